import shutil
from pathlib import Path

import pytest

from transfer_laws.book import NotebookError, build_book, execute

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book(smoke_results, fixture_data, tmp_path_factory):
    """The whole book built from the smoke study's records, in a temporary folder."""
    results, *_ = smoke_results
    work = tmp_path_factory.mktemp("book")
    shutil.copytree(REPO / "book", work / "book", ignore=shutil.ignore_patterns("generated", "_build"))
    html = build_book(results=results, output=work / "_build", book=work / "book", notebooks=REPO / "notebooks",
                      data_dir=str(fixture_data), config=REPO / "_config.yml",
                      studies=[{"source": "tinyprose", "target": "tinypy", "profile": "smoke"}])
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
