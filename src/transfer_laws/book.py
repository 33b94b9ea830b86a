"""Build the book: execute the jupytext notebooks with papermill, then render
them with jupyter-book (which does not execute anything itself).

    book/studies.toml           the studies the book shows (``make study`` adds to it)
    notebooks/setup.py          chapter 1, once
    notebooks/{scratch,transfer,compute,ossification}.py
                                chapters 2-5, once per study
    notebooks/table1.py         Hernandez's Table 1 across every study
    notebooks/transfer_gap.py   Barnett's transfer gap across every study
    notebooks/claims.py         each claim of the two papers: holds, fails or can't tell
    book/generated/             executed notebooks and SVG figures (not committed)
    _build/html                 the site

Charts and math render offline: a vega bundle made by vl-convert and MathJax
from its pinned npm tarball are copied into ``book/_static``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from .artifacts import Artifact, fetch
from .errors import InputError

STUDY_CHAPTERS = ["scratch", "transfer", "compute", "ossification"]
MATHJAX = Artifact("npm", "mathjax", "3.2.2")
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"


class NotebookError(InputError):
    """A notebook failed; the message names the notebook and the cell."""


def load_studies(path: Path) -> list[dict]:
    if not path.exists():
        return []
    studies = tomllib.loads(path.read_text()).get("study", [])
    for s in studies:
        for key in ("source", "target", "profile"):
            if key not in s:
                raise InputError(f"{path}: every [[study]] needs source, target and profile; one lacks {key!r}")
    return studies


def add_study(path: Path, source: str, target: str, profile: str) -> None:
    studies = load_studies(path)
    if any((s["source"], s["target"], s["profile"]) == (source, target, profile) for s in studies):
        return
    with open(path, "a") as f:
        f.write(f'\n[[study]]\nsource = "{source}"\ntarget = "{target}"\nprofile = "{profile}"\n')


def study_slug(s: dict) -> str:
    return f"{s['source']}__{s['target']}__{s['profile']}".replace("+", "_plus_")


def check_parameters(source: str, target: str, profile: str, data_dir: str | None = None) -> None:
    """Fail early, with one clear line, on a notebook parameter that cannot work."""
    from .data import DataStore
    from .study import load_profile

    store = DataStore(data_dir)
    known = store.known()
    for role, name in (("source", source), ("target", target)):
        if name not in known:
            raise InputError(f"notebook parameter {role}={name!r} is not a known distribution "
                             f"(known: {', '.join(known)}). Fix the parameter, or add the distribution "
                             f"with `transfer-laws data add`.")
    load_profile(profile)


def _static_assets(book: Path, cache: Path) -> None:
    static = book / "_static"
    static.mkdir(exist_ok=True)
    bundle = static / "vega-bundle.js"
    if not bundle.exists():
        import vl_convert as vlc

        # The bundle declares top-level consts (`_`, ...) that collide with Sphinx's own
        # scripts; an IIFE keeps them local. It still sets window.vegaEmbed.
        bundle.write_text("(function(){\n" + vlc.javascript_bundle() + "\n})();\n")
    mj = static / "mathjax" / "tex-svg.js"
    if not mj.exists():
        import tarfile

        tgz = fetch(MATHJAX, cache, MATHJAX_SHA256)
        with tarfile.open(tgz) as tar:
            member = tar.extractfile("package/es5/tex-svg.js")
            mj.parent.mkdir(parents=True, exist_ok=True)
            mj.write_bytes(member.read())


def kernel_config():
    """Kernel settings for papermill. ipykernel warns, on every kernel it starts, that
    plain TCP is unencrypted; the python3 kernelspec declares CurveZMQ support, so
    jupyter_client is asked to provision keys (where it is new enough to know how)."""
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    config = Config()
    if "transport_encryption" in KernelManager.class_trait_names():
        config.KernelManager.transport_encryption = "auto"
    return config


def execute(notebook: Path, output: Path, parameters: dict, cwd: Path) -> None:
    import jupytext
    import papermill as pm

    nb = jupytext.read(notebook)
    if "source" in parameters and nb.cells and nb.cells[0].cell_type == "markdown":
        first, *rest = nb.cells[0].source.split("\n")
        if first.startswith("# "):  # page titles name their study
            first += f": {parameters['source']} → {parameters['target']} ({parameters['profile']})"
            nb.cells[0].source = "\n".join([first, *rest])
    for cell in nb.cells:  # readers see outputs; the code is one click away
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags:
            tags.append("remove-cell")  # papermill's injected cell shows the values used
        elif cell.cell_type == "code":
            tags.append("hide-input")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(nb, str(output), parameters=parameters, cwd=str(cwd), kernel_name="python3",
                            progress_bar=False, log_output=False, config=kernel_config())
    except pm.PapermillExecutionError as e:
        raise NotebookError(f"notebook {notebook.name} failed in cell {e.exec_count} with "
                            f"{e.ename}: {e.evalue} (parameters {parameters}; executed copy: {output})") from None


def notebook_jobs(studies: list[dict], results: Path, data_dir: Path, notebooks: Path, gen: Path,
                  cwd: Path) -> list[tuple[Path, Path, dict]]:
    """(notebook, executed copy, parameters) for every page. The kernels run in ``cwd``
    and get ``results`` and ``data_dir`` relative to it: papermill prints the parameters
    on each page, and a page should not show the folders of the machine that built it."""
    common = {"results": os.path.relpath(results, cwd), "data_dir": os.path.relpath(data_dir, cwd)}
    jobs = [(notebooks / "setup.py", gen / "setup.ipynb", {**common, "studies": json.dumps(studies)})]
    for i, s in enumerate(studies):
        for j, ch in enumerate(STUDY_CHAPTERS):
            jobs.append((notebooks / f"{ch}.py", gen / "studies" / f"{i:02d}-{study_slug(s)}" / f"{j + 2}-{ch}.ipynb",
                         {**common, "source": s["source"], "target": s["target"], "profile": s["profile"]}))
    for across in ("table1", "transfer_gap", "claims"):
        jobs.append((notebooks / f"{across}.py", gen / f"{across}.ipynb", {**common, "studies": json.dumps(studies)}))
    return jobs


def build_book(results: Path = Path("results"), output: Path = Path("_build"), book: Path = Path("book"),
               notebooks: Path = Path("notebooks"), data_dir: str | None = None, studies: list[dict] | None = None,
               config: Path = Path("_config.yml")) -> Path:
    results, book, notebooks = results.resolve(), book.resolve(), notebooks.resolve()
    studies = studies if studies is not None else load_studies(book / "studies.toml")
    for s in studies:
        check_parameters(s["source"], s["target"], s["profile"], data_dir)
    data_dir = str(Path(data_dir).resolve()) if data_dir else str(Path(os.environ.get("TRANSFER_LAWS_DATA", "data")).resolve())
    gen = book / "generated"
    if gen.exists():
        shutil.rmtree(gen)
    gen.mkdir(parents=True)
    cache = Path(data_dir) / "cache" / "artifacts"
    _static_assets(book, cache)
    saved_env = {k: os.environ.get(k) for k in ("TRANSFER_LAWS_FIGURES", "TRANSFER_LAWS_DATA", "PYTHONWARNINGS")}
    os.environ["TRANSFER_LAWS_FIGURES"] = str(gen / "figures")  # inherited by the kernels
    os.environ["TRANSFER_LAWS_DATA"] = data_dir
    # transformers imports tqdm.auto, which warns on every page that ipywidgets is missing
    os.environ["PYTHONWARNINGS"] = "ignore:IProgress not found"
    here = Path.cwd()
    try:
        from tqdm import tqdm

        for nb, out, params in tqdm(notebook_jobs(studies, results, Path(data_dir), notebooks, gen, here),
                                    desc="notebooks", unit="nb"):
            execute(nb, out, params, cwd=here)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = Path(output).resolve()
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book), "--config", str(config.resolve()),
           "--toc", str(book / "_toc.yml"), "--path-output", str(out.parent), "--builder", "html"]
    if out.name != "_build":
        raise InputError("the output folder must be named _build (jupyter-book writes PATH/_build/html)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NotebookError(f"jupyter-book build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    html = out / "html"
    if (gen / "figures").exists():
        for sub in [html / "generated"] + [p for p in (html / "generated" / "studies").glob("*") if p.is_dir()]:
            shutil.copytree(gen / "figures", sub / "figures", dirs_exist_ok=True)
    print(f"book built: {html / 'index.html'}")
    return html


def run_study(source: str, target: str, profile: str, results: Path, data_dir: str | None = None) -> None:
    """`make study`: train what is missing, then add the study to the book and rebuild it."""
    from .study import Study

    check_parameters(source, target, profile, data_dir)
    Study.from_names(source, target, profile, results=results, data_dir=data_dir).sweep()
    add_study(Path("book") / "studies.toml", source, target, profile)
    build_book(results=results, data_dir=data_dir)
