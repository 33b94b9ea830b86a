"""Small real-text fixture corpora, made from the running interpreter's standard
library so that tests download nothing: Python modules as the target and the
English help topics of ``pydoc_data`` as the source."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from transfer_laws import study as study_mod
from transfer_laws.study import Study

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TARGET_MODULES = ["json", "email", "http", "logging", "xml/dom", "importlib", "concurrent/futures", "urllib"]


def write_fixture_texts(root: Path) -> tuple[str, str]:
    """Write the two fixture corpora under ``root``; return their glob patterns."""
    py = root / "src-python"
    for mod in TARGET_MODULES:
        for f in sorted((STDLIB / mod).glob("*.py")):
            dest = py / mod.replace("/", "_") / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.read_bytes())
    from pydoc_data.topics import topics

    prose = root / "src-prose"
    prose.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(topics.items()):
        (prose / f"{name}.txt").write_text(text, encoding="utf-8")
    return str(py / "**" / "*.py"), str(prose / "*.txt")


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory) -> Path:
    """A data folder with two small built distributions: ``tinypy`` and ``tinyprose``."""
    from transfer_laws.data import DataStore

    root = tmp_path_factory.mktemp("fixture")
    py_glob, prose_glob = write_fixture_texts(root)
    data = root / "data"
    store = DataStore(data, recipes={})
    store.add_local("tinypy", py_glob, "PSF-2.0", cleaner="code", build=False)
    store.add_local("tinyprose", prose_glob, "PSF-2.0", cleaner="prose", drop_python=True, build=False)
    store.build(["tinypy", "tinyprose"])
    return data


@pytest.fixture
def data_env(fixture_data, monkeypatch):
    monkeypatch.setenv("TRANSFER_LAWS_DATA", str(fixture_data))
    return fixture_data


class Interrupt(BaseException):
    pass


@pytest.fixture(scope="session")
def smoke_results(fixture_data, tmp_path_factory):
    """The whole smoke study, interrupted after 5 runs and then resumed.
    Returns (results dir, {record path: (mtime_ns, bytes)} of the runs finished before the interruption)."""
    results = tmp_path_factory.mktemp("smoke-results")
    study = Study.from_names("tinyprose", "tinypy", "smoke", results=results, data_dir=str(fixture_data))
    real = study_mod.execute_run
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        if calls["n"] == 5:
            raise Interrupt("killed")
        calls["n"] += 1
        return real(*args, **kwargs)

    study_mod.execute_run = flaky
    try:
        with pytest.raises(Interrupt):
            study.sweep()
    finally:
        study_mod.execute_run = real
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (results / "runs").glob("*.json")}
    summary = study.sweep()
    return results, before, summary, study
