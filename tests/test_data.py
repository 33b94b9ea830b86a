import io
import json
import tarfile

import numpy as np
import pytest

from transfer_laws.artifacts import iter_files
from transfer_laws.cli import main
from transfer_laws.corpus import PYTHON_LINE, chunk, clean_code, split_of
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
    for key in ("name", "license", "sha256", "train_tokens", "validation_tokens", "test_tokens", "sources"):
        assert rows["tinypy"][key]
    assert rows["tinyprose"]["leakage_share"] < rows["tinypy"]["leakage_share"] / 10  # documents with Python were dropped


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
