import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from transfer_laws.book import NotebookError, build_book, execute, notebook_jobs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book(smoke_results, fixture_data, tmp_path_factory):
    """The whole book built from the smoke study's records, in a temporary folder."""
    results, *_ = smoke_results
    work = tmp_path_factory.mktemp("book")
    shutil.copytree(REPO / "book", work / "book", ignore=shutil.ignore_patterns("generated", "_build"))
    before = Path.cwd()
    os.chdir(tmp_path_factory.getbasetemp())  # built from a folder that is neither the repository nor the book
    try:
        html = build_book(results=results, output=work / "_build", book=work / "book", notebooks=REPO / "notebooks",
                          data_dir=str(fixture_data), config=REPO / "_config.yml",
                          studies=[{"source": "tinyprose", "target": "tinypy", "profile": "smoke"}])
    finally:
        os.chdir(before)
    return html


def test_every_chapter_page_is_built(built_book):
    pages = {p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")}
    for page in ("intro.html", "methods.html", "own_pair.html", "generated/setup.html", "generated/table1.html",
                 "generated/transfer_gap.html", "generated/claims.html"):
        assert page in pages
    study = [p for p in pages if p.startswith("generated/studies/")]
    assert {Path(p).stem for p in study} == {"2-scratch", "3-transfer", "4-compute", "5-ossification"}
    assert list((built_book / "generated" / "figures").glob("*.svg")), "every chart also exists as an SVG"
    transfer = (built_book / [p for p in study if p.endswith("3-transfer.html")][0]).read_text()
    assert "Made by notebooks/transfer.py" in transfer and "tinyprose" in transfer


def test_pages_show_no_folder_of_the_machine_that_built_them(built_book, smoke_results, fixture_data):
    # (a user's own corpus is described by the files it was made from: data add --files)
    machine = {str(smoke_results[0]), str(fixture_data), str(REPO), sys.prefix}
    for page in built_book.rglob("*.html"):
        text = page.read_text()
        assert not [m for m in machine if m in text], page
    setup = (built_book / "generated" / "setup.html").read_text()
    assert "results" in setup and "data_dir" in setup, "the injected parameters are still shown"


def test_tables_have_no_index_column(built_book):
    pages = [*(built_book / "generated").glob("*.html"), *(built_book / "generated" / "studies").rglob("*.html")]
    for page in pages:
        text = page.read_text()
        assert 'class="dataframe' not in text and "row_heading" not in text, page
    assert "N (parameters)" in (built_book / "generated" / "setup.html").read_text()


def test_notebook_parameters_are_relative_to_the_folder_the_kernels_run_in(tmp_path):
    cwd, results, data = tmp_path / "somewhere" / "else", tmp_path / "results", tmp_path / "data"
    jobs = notebook_jobs([{"source": "a", "target": "b", "profile": "cpu"}], results, data, tmp_path / "notebooks",
                         tmp_path / "generated", cwd)
    assert len(jobs) == 1 + 4 + 3  # setup, 4 chapters per study, 3 pages across pairs
    for _, _, params in jobs:
        for value in params.values():
            assert not os.path.isabs(value) and str(tmp_path) not in value
        assert (cwd / params["results"]).resolve() == results and (cwd / params["data_dir"]).resolve() == data
    assert json.loads(jobs[0][2]["studies"])[0]["source"] == "a"


def test_kernels_start_without_transport_warnings(tmp_path, capfd):
    notebook = tmp_path / "tiny.py"
    notebook.write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\nprint(x + 1)\n')
    execute(notebook, tmp_path / "tiny.ipynb", {"x": 2}, cwd=tmp_path)
    assert '"3\\n"' in (tmp_path / "tiny.ipynb").read_text()
    captured = capfd.readouterr()
    assert "WARNING" not in captured.err and "without encryption" not in captured.err, captured.err


def test_book_renders_offline_in_a_browser(built_book):
    from browser_check import check_site

    problems = check_site(built_book)
    assert not problems, "\n".join(f"{page}: {errs}" for page, errs in problems.items())


def test_broken_parameter_fails_with_a_clear_message(fixture_data, tmp_path):
    with pytest.raises(NotebookError) as err:
        execute(REPO / "notebooks" / "transfer.py", tmp_path / "out.ipynb",
                {"source": "klingon", "target": "tinypy", "profile": "smoke", "results": str(tmp_path),
                 "data_dir": str(fixture_data)}, cwd=tmp_path)
    msg = str(err.value)
    assert "transfer.py" in msg and "cell" in msg
    assert "source='klingon' is not a known distribution" in msg
    with pytest.raises(Exception, match="klingon"):
        build_book(results=tmp_path, output=tmp_path / "_build", data_dir=str(fixture_data),
                   studies=[{"source": "klingon", "target": "tinypy", "profile": "smoke"}])
