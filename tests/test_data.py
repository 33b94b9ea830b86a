import io
import os
import json
import tarfile

import numpy as np
import pytest

from transfer_laws.artifacts import iter_files
from transfer_laws.cli import main
from transfer_laws.corpus import MAX_DOC_CHARS, PYTHON_LINE, SECTION_DOCS, chunk, clean_code, split_of, split_unit
from transfer_laws.data import DataError, DataStore


def test_build_twice_gives_identical_checksums(fixture_data, tmp_path):
    from conftest import write_fixture_texts

    a, b = write_fixture_texts(tmp_path / "again")
    other = DataStore(tmp_path / "data", recipes={})
    other.add_local("tinypy", a, "PSF-2.0", cleaner="code", build=False)
    other.add_local("tinyprose", b, "PSF-2.0", cleaner="prose", drop_python=True, build=False)
    other.build(["tinypy", "tinyprose"])
    first = DataStore(fixture_data, recipes={}).manifest()
    second = other.manifest()
    assert first["tokenizer"]["sha256"] == second["tokenizer"]["sha256"]
    for name in ("tinypy", "tinyprose"):
        assert first["distributions"][name]["text_sha256"] == second["distributions"][name]["text_sha256"]
        assert first["distributions"][name]["tokens_sha256"] == second["distributions"][name]["tokens_sha256"]
    before = (fixture_data / "manifest.json").read_bytes()
    DataStore(fixture_data, recipes={}).build(["tinypy", "tinyprose"])  # idempotent
    assert (fixture_data / "manifest.json").read_bytes() == before


def test_no_document_in_two_splits(fixture_data):
    store = DataStore(fixture_data, recipes={})
    ids = {}
    for split in ("train", "validation", "test"):
        for line in store.docs_path("tinypy", split).read_text().splitlines():
            doc_id = json.loads(line)["id"]
            assert doc_id not in ids, f"{doc_id} in {ids.get(doc_id)} and {split}"
            ids[doc_id] = split
            assert split_of(doc_id) == split
    assert set(ids.values()) == {"train", "validation", "test"}


def test_split_unit_is_the_file_or_its_section():
    f = "deb:fortunes==1:1.99.1-7.3:usr/share/games/fortunes/#odd#name"
    assert split_unit(f"{f}#0") == split_unit(f"{f}#{SECTION_DOCS - 1}") == f
    assert split_unit(f"{f}#{SECTION_DOCS}") == split_unit(f"{f}#{2 * SECTION_DOCS - 1}") == f"{f}#section=1"
    files = [f"wheel:x==1.0:pkg/m{i}.py" for i in range(2000)]
    assert all(len({split_of(f"{g}#{i}") for i in range(SECTION_DOCS)}) == 1 for g in files)
    # sections of a giant file are independent units: some land outside train
    assert {split_of(f"{f}#{i * SECTION_DOCS}") for i in range(400)} == {"train", "validation", "test"}
    with pytest.raises(ValueError, match="FILE#CHUNK"):
        split_unit("no-chunk-number")


def _words(rng, n: int) -> str:
    vocab = ["alpha", "beta", "gamma", "delta", "river", "stone", "light", "north", "paper", "quiet"]
    return " ".join(rng.choice(vocab) + str(rng.randrange(100)) for _ in range(n))


def test_chunks_of_a_file_share_its_split(tmp_path):
    """Many multi-chunk files and one giant file: every file's chunks (every section's,
    for the giant) land in one split, and the giant file still reaches all three splits."""
    import random

    rng = random.Random(0)
    src = tmp_path / "long"
    src.mkdir()
    para = lambda: _words(rng, 300) + "\n\n"  # ~2.7k characters
    per_doc = MAX_DOC_CHARS // 2800
    for i in range(60):  # 3 chunks each
        (src / f"f{i:02d}.txt").write_text("".join(para() for _ in range(3 * per_doc)))
    (src / "giant.txt").write_text("".join(para() for _ in range(30 * SECTION_DOCS * per_doc)))
    store = DataStore(tmp_path / "data", recipes={})
    store.add_local("long", str(src / "*.txt"), "CC0-1.0", cleaner="prose", vocab_size=300)
    where: dict[str, set] = {}
    chunks: dict[str, int] = {}
    for split in ("train", "validation", "test"):
        for line in store.docs_path("long", split).read_text().splitlines():
            doc_id = json.loads(line)["id"]
            unit = split_unit(doc_id)
            where.setdefault(unit, set()).add(split)
            chunks[unit] = chunks.get(unit, 0) + 1
    assert all(len(s) == 1 for s in where.values()), {u: s for u, s in where.items() if len(s) > 1}
    small = [u for u in where if "giant" not in u]
    assert len(small) == 60 and all(chunks[u] >= 3 for u in small)
    giant = [u for u in where if "giant" in u]
    assert len(giant) >= 21  # with these ids, sections 1..21 reach all three splits
    assert {next(iter(where[u])) for u in giant} == {"train", "validation", "test"}


def test_subsets_are_nested(fixture_data):
    store = DataStore(fixture_data, recipes={})
    small = np.asarray(store.tokens("tinypy", "train", 1000))
    large = np.asarray(store.tokens("tinypy", "train", 5000))
    assert np.array_equal(large[:1000], small)


def test_tokenizer_round_trips_text(fixture_data):
    tok = DataStore(fixture_data, recipes={}).tokenizer()
    for text in ["def f(x):\n    return x ** 2  # émoji 🚀\n", "Tabs\tand  spaces\n\n\nend"]:
        assert tok.decode(tok.encode(text).ids) == text


def test_corrupted_cache_file_is_named(fixture_data, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fixture_data, copy)
    path = copy / "cache" / "tokens" / "tinypy" / "train.bin"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"corrupt cache file .*tinypy/train\.bin"):
        DataStore(copy, recipes={}).tokens("tinypy", "train")


def test_unknown_distribution_gets_clear_error(data_env, capsys):
    with pytest.raises(DataError, match="unknown distribution 'klingon'.*data add"):
        DataStore(data_env, recipes={}).tokens("klingon")
    assert main(["data", "build", "klingon"]) == 2
    assert "unknown distribution 'klingon'" in capsys.readouterr().err


def test_too_many_tokens_is_a_clear_error(fixture_data):
    with pytest.raises(DataError, match="has only"):
        DataStore(fixture_data, recipes={}).tokens("tinypy", "train", 10**9)


def test_list_json_has_the_documented_fields(data_env, capsys):
    assert main(["data", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for key in ("name", "license", "sha256", "train_tokens", "validation_tokens", "test_tokens", "sources",
                "bytes_per_token"):
        assert rows["tinypy"][key]
    entry = DataStore(data_env, recipes={}).manifest()["distributions"]["tinypy"]
    assert rows["tinypy"]["bytes_per_token"] == round(entry["text_bytes"]["validation"] / entry["tokens"]["validation"], 4)
    assert 1.5 < rows["tinypy"]["bytes_per_token"] < 8
    assert main(["data", "list"]) == 0
    assert f"{rows['tinypy']['bytes_per_token']:.2f}" in capsys.readouterr().out
    assert rows["tinyprose"]["leakage_share"] < rows["tinypy"]["leakage_share"] / 10  # documents with Python were dropped


def test_vocab_size_change_needs_force_and_retokenizes_everything(fixture_data, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fixture_data, copy)
    store = DataStore(copy, recipes={})
    before = store.manifest()
    old_v = before["tokenizer"]["vocab_size"]
    new_v = 300 if old_v != 300 else 400
    manifest_bytes = store.manifest_path.read_bytes()
    with pytest.raises(DataError, match=f"data build --force --vocab-size {new_v}"):
        store.build(["tinypy"], vocab_size=new_v)
    assert store.manifest_path.read_bytes() == manifest_bytes  # nothing touched
    store.build(["tinypy"], force=True, vocab_size=new_v)
    after = store.manifest()
    assert after["tokenizer"]["vocab_size"] == new_v != old_v
    for name in ("tinypy", "tinyprose"):  # tinyprose was not named but was built with the old tokenizer
        e = after["distributions"][name]
        assert e["tokenizer_sha256"] == after["tokenizer"]["sha256"]
        assert int(np.max(store.tokens(name, "train"))) < new_v
        smaller = (e["bytes_per_token"] < before["distributions"][name]["bytes_per_token"])
        assert smaller == (new_v < old_v)
    with pytest.raises(DataError, match="use 257"):
        store.build(["tinypy"], force=True, vocab_size=100)


def test_python_line_detector():
    py = ["def f(x):", "class A(B):", "from os import path", "import numpy as np", "elif x:", "except ValueError as e:"]
    other = ['import "fmt"', "import x from 'y';", "use strict;", "func main() {", "The import of goods was taxed."]
    assert all(PYTHON_LINE.match(s) for s in py)
    assert not any(PYTHON_LINE.match(s) for s in other)


def test_license_header_is_stripped_and_long_files_chunked():
    text = "// Copyright 2020 The Go Authors.\n// license: BSD\n\npackage main\n"
    assert clean_code(text) == "package main\n"
    assert clean_code("// just a comment\npackage x\n").startswith("// just")
    pieces = chunk("para\n\n" * 10000, limit=1000)
    assert "".join(pieces) == "para\n\n" * 10000 and max(map(len, pieces)) <= 1000


def test_deb_reader_without_dpkg(tmp_path):
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:xz") as tar:
        data = b"hello from a deb\n"
        info = tarfile.TarInfo("./usr/share/doc/x/README")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    blob = payload.getvalue()

    def member(name: str, content: bytes) -> bytes:
        head = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode()
        return head + content + (b"\n" if len(content) % 2 else b"")

    deb = b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("data.tar.xz", blob)
    path = tmp_path / "x.deb"
    path.write_bytes(deb)
    assert list(iter_files(path, "deb", ["*README"], [])) == [("usr/share/doc/x/README", b"hello from a deb\n")]


def test_artifact_with_wrong_checksum_is_refetched(tmp_path, monkeypatch):
    from transfer_laws.artifacts import Artifact, ArtifactError, fetch, sha256_file

    served = tmp_path / "registry" / "pkg.tgz"
    served.parent.mkdir()
    served.write_bytes(b"the real artifact")
    good = sha256_file(served)
    monkeypatch.setattr(Artifact, "fetch_command", lambda self, dest: ["cp", str(served), "."])
    art = Artifact("npm", "pkg", "1.0.0")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / art.filename).write_bytes(b"a truncated download")
    path = fetch(art, cache, good)
    assert sha256_file(path) == good  # the bad cached copy was replaced
    served.write_bytes(b"the registry changed it")
    (cache / art.filename).unlink()
    with pytest.raises(ArtifactError, match="npm:pkg==1.0.0.*manifest pins"):
        fetch(art, cache, good)


FAKE_APT = """#!/bin/sh
# A stand-in for apt-get: knows no package until `apt-get update` has run.
echo "$*" >> "{log}"
if [ "$1" = update ]; then touch "{lists}"; exit 0; fi
if [ ! -e "{lists}" ]; then echo "E: Unable to locate package ${{2%%=*}}" >&2; exit 100; fi
printf 'a deb' > "${{2%%=*}}.deb"
"""


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """A fake `apt-get` first on PATH; returns the file that logs its calls."""
    from transfer_laws import artifacts

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    script = bin_dir / "apt-get"
    script.write_text(FAKE_APT.format(log=log, lists=tmp_path / "lists-updated"))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(artifacts, "_apt_updated", False)
    return log


def test_fresh_machine_as_root_runs_apt_update_once(fake_apt, tmp_path, monkeypatch):
    from transfer_laws import artifacts
    from transfer_laws.artifacts import Artifact, fetch

    monkeypatch.setattr(artifacts, "_is_root", lambda: True)
    cache = tmp_path / "cache"
    a = fetch(Artifact("deb", "pkg-a", "1.0-1"), cache, None)
    b = fetch(Artifact("deb", "pkg-b", "2.0-1"), cache, None)
    assert a.read_bytes() == b.read_bytes() == b"a deb"
    assert fake_apt.read_text().splitlines() == [
        "download pkg-a=1.0-1", "update", "download pkg-a=1.0-1", "download pkg-b=2.0-1"]


def test_fresh_machine_not_root_says_what_to_run(fake_apt, tmp_path, monkeypatch):
    from transfer_laws import artifacts
    from transfer_laws.artifacts import Artifact, ArtifactError, fetch

    monkeypatch.setattr(artifacts, "_is_root", lambda: False)
    art = Artifact("deb", "pkg-a", "1.0-1")
    with pytest.raises(ArtifactError) as err:
        fetch(art, tmp_path / "cache", "ab" * 32)
    msg = str(err.value)
    assert "run `sudo apt-get update`, then rerun `transfer-laws data build`" in msg
    assert f"place the file by hand at {tmp_path / 'cache' / art.filename}" in msg
    assert "registry is reachable" not in msg
    assert fake_apt.read_text().splitlines() == ["download pkg-a=1.0-1"]  # no update attempted


def test_package_unknown_even_after_update_names_the_sources(fake_apt, tmp_path, monkeypatch):
    from transfer_laws import artifacts
    from transfer_laws.artifacts import Artifact, ArtifactError, fetch

    monkeypatch.setattr(artifacts, "_is_root", lambda: True)
    monkeypatch.setattr(artifacts, "_apt_updated", True)  # the update already ran in this process
    with pytest.raises(ArtifactError, match="even after `apt-get update`.*sources.list.*by hand"):
        fetch(Artifact("deb", "pkg-a", "1.0-1"), tmp_path / "cache", None)
    assert fake_apt.read_text().splitlines() == ["download pkg-a=1.0-1"]
