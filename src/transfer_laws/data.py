"""Distributions: build them from recipes or local files, list them, load their tokens.

The data folder (``data/`` in the working directory, or ``$TRANSFER_LAWS_DATA``)
holds ``manifest.json``, which is committed, and ``cache/``, which is not:

    cache/artifacts/           registry files, checked against the manifest's sha256
    cache/docs/NAME/SPLIT.jsonl clean documents in the distribution's fixed order
    cache/tokenizer.json       the shared tokenizer
    cache/tokens/NAME/SPLIT.bin  uint16 token ids, documents separated by <|endoftext|>
    cache/tokens/NAME/SPLIT.idx  uint64 start offset of each document

A subset of D tokens is always the first D tokens of SPLIT.bin, so every smaller
fine-tuning set lies inside every larger one.

The vocabulary size is a parameter of the data folder (``data build --vocab-size``,
default ``tokenizer.VOCAB_SIZE``), recorded in the manifest with the tokenizer's
sha256. Each distribution's entry records the tokenizer its tokens were made with, so
changing the vocabulary retokenizes every built distribution in the same build.
The manifest also records each distribution's UTF-8 bytes per split (``text_bytes``)
and ``bytes_per_token`` on the validation split (end-of-text tokens counted), which
compares the cost of vocabularies per byte of text rather than per token.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tomllib
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from .artifacts import Artifact, ArtifactError, fetch, iter_files, sha256_file
from .atomic import atomic_write_bytes, atomic_write_text
from .corpus import SPLITS, BuildStats, Document, documents_from_files, python_lines
from .tokenizer import SAMPLE_CHARS, VOCAB_SIZE, eos_id, load_tokenizer, train_tokenizer

TOKEN_DTYPE = np.uint16


class DataError(RuntimeError):
    """A distribution is unknown, unbuilt, corrupt or asked for more than it has."""


def default_root() -> Path:
    return Path(os.environ.get("TRANSFER_LAWS_DATA", "data"))


def load_recipes() -> dict[str, dict[str, Any]]:
    text = resources.files("transfer_laws").joinpath("recipes/distributions.toml").read_text()
    return tomllib.loads(text)


def _sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class DataStore:
    """One data folder: its manifest, caches, and the operations on them."""

    def __init__(self, root: Path | str | None = None, recipes: dict[str, dict] | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.cache = self.root / "cache"
        self.recipes = load_recipes() if recipes is None else recipes
        self._verified: set[Path] = set()

    # --- manifest ------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"artifacts": {}, "distributions": {}, "tokenizer": None}
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(
                f"{self.manifest_path} is not valid JSON ({e}). Restore it with "
                f"`git checkout {self.manifest_path}` or delete it to rebuild from recipes.") from None

    def _save_manifest(self, m: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, json.dumps(m, indent=2, sort_keys=True) + "\n")

    def known(self) -> list[str]:
        names = set(self.recipes) | set(self.manifest()["distributions"])
        return sorted(names)

    def _definition(self, name: str) -> dict[str, Any]:
        if name in self.recipes:
            return self.recipes[name]
        local = self.manifest()["distributions"].get(name)
        if local and local.get("kind") == "local":
            return local["definition"]
        raise DataError(
            f"unknown distribution {name!r}. Known: {', '.join(self.known()) or '(none)'}. "
            f"Add your own with `transfer-laws data add {name} --files 'PATTERN' --license LICENSE`.")

    # --- paths ---------------------------------------------------------------------
    def docs_path(self, name: str, split: str) -> Path:
        return self.cache / "docs" / name / f"{split}.jsonl"

    def tokens_path(self, name: str, split: str) -> Path:
        return self.cache / "tokens" / name / f"{split}.bin"

    def index_path(self, name: str, split: str) -> Path:
        return self.cache / "tokens" / name / f"{split}.idx"

    @property
    def tokenizer_path(self) -> Path:
        return self.cache / "tokenizer.json"

    # --- add -----------------------------------------------------------------------
    def add_local(self, name: str, pattern: str, license: str, description: str = "",
                  cleaner: str = "code", drop_python: bool = False, build: bool = True,
                  vocab_size: int | None = None) -> dict[str, Any]:
        """Define a distribution from local text files and (unless ``build=False``) build it.

        ``drop_python`` drops documents with Python-looking lines, as the built-in
        non-Python distributions do; leave it off for a Python target."""
        if name in self.recipes:
            raise DataError(f"{name!r} is a built-in distribution; choose another name.")
        files = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not files:
            raise DataError(f"no files match {pattern!r}; quote the pattern and check the path.")
        m = self.manifest()
        m["distributions"][name] = {
            "kind": "local",
            "definition": {"files": pattern, "license": license, "cleaner": cleaner, "drop_python": drop_python,
                           "description": description or f"local files {pattern}"},
        }
        self._save_manifest(m)
        if build:
            self.build([name], vocab_size=vocab_size)
        return self.manifest()["distributions"][name]

    # --- build ---------------------------------------------------------------------
    def build(self, names: list[str] | None = None, force: bool = False, vocab_size: int | None = None) -> None:
        names = list(names) if names else sorted(self.recipes)
        for n in names:
            self._definition(n)  # unknown names fail before any work
        tk = self.manifest().get("tokenizer")
        if vocab_size is not None:
            if not 257 <= vocab_size <= 65536:
                raise DataError(f"--vocab-size {vocab_size}: use 257 (the 256 bytes and <|endoftext|>) "
                                f"to 65536 (tokens are stored as uint16).")
            if tk and tk["vocab_size"] != vocab_size and not force:
                raise DataError(
                    f"this data folder's tokenizer has {tk['vocab_size']} entries; a {vocab_size}-entry one "
                    f"retokenizes every built distribution. Run `transfer-laws data build --force "
                    f"--vocab-size {vocab_size}` to do that.")
        # Components of a mix are built first.
        order: list[str] = []
        for n in names:
            for c in self._definition(n).get("mix", []):
                if c not in order:
                    order.append(c)
            if n not in order:
                order.append(n)
        text_names = [n for n in order if "mix" not in self._definition(n)]
        for n in tqdm(text_names, desc="documents", unit="dist", disable=len(text_names) < 2):
            self._build_documents(n, force)
        if self._ensure_tokenizer(text_names, vocab_size):
            built = [n for n, e in self.manifest()["distributions"].items() if "tokens" in e and n not in order]
            for n in built:  # made with the old tokenizer: their components first
                for c in self._definition(n).get("mix", []) + [n]:
                    if c not in order:
                        order.append(c)
        for n in order:
            self._build_tokens(n, force)

    def _files_of(self, name: str, d: dict[str, Any], m: dict[str, Any]) -> Iterator[tuple[dict, Iterator[tuple[str, bytes]], int | None]]:
        """Per source: (source record, iterator of (file id, bytes), max_bytes)."""
        if "files" in d:
            files = sorted(p for p in glob.glob(d["files"], recursive=True) if os.path.isfile(p))
            if not files:
                raise DataError(f"{name}: no files match {d['files']!r} any more.")
            root = _glob_root(d["files"])
            rel = {f: os.path.relpath(f, root) for f in files}
            rec = {"files": d["files"], "file_sha256": {rel[f]: sha256_file(Path(f)) for f in files}}
            # Ids are relative to the pattern's fixed prefix, so the same files give
            # the same documents and splits wherever they lie.
            yield rec, ((f"local:{rel[f]}", Path(f).read_bytes()) for f in files), None
            return
        for src in d["sources"]:
            art = Artifact.parse(src["artifact"])
            pinned = m["artifacts"].get(art.key, {}).get("sha256")
            path = fetch(art, self.cache / "artifacts", pinned)
            sha = sha256_file(path)
            m["artifacts"][art.key] = {"sha256": sha, "bytes": path.stat().st_size}
            members = iter_files(path, art.registry, src.get("include", ["*"]), src.get("exclude", []))
            rec = {"artifact": art.key, "sha256": sha}
            yield rec, ((f"{art.key}:{p}", b) for p, b in members), src.get("max_bytes")

    def _build_documents(self, name: str, force: bool) -> None:
        m = self.manifest()
        d = self._definition(name)
        entry = m["distributions"].get(name, {})
        if not force and entry.get("text_sha256") and self._docs_match(name, entry):
            return
        stats = BuildStats()
        seen: set[str] = set()
        docs: list[Document] = []
        sources = []
        for rec, files, max_bytes in self._files_of(name, d, m):
            files = tqdm(files, desc=f"{name}: {rec.get('artifact', rec.get('files'))}", unit="file", leave=False)
            got = list(documents_from_files(files, d.get("cleaner", "code"), stats, seen,
                                            check_leakage=d.get("drop_python", "files" not in d)))
            if max_bytes is not None:
                got.sort(key=lambda doc: doc.order_key)
                kept, size = [], 0
                for doc in got:
                    if size >= max_bytes:
                        break
                    kept.append(doc)
                    size += len(doc.text.encode())
                got = kept
            rec["documents"] = len(got)
            sources.append(rec)
            docs.extend(got)
        if not docs:
            raise DataError(f"{name}: no documents survived cleaning (are the files UTF-8 text?).")
        by_split: dict[str, list[Document]] = {s: [] for s in SPLITS}
        for doc in docs:
            by_split[doc.split].append(doc)
        text_hash = hashlib.sha256()
        py = lines = 0
        for split in SPLITS:
            part = sorted(by_split[split], key=lambda doc: doc.order_key)
            blob = "".join(json.dumps({"id": doc.id, "text": doc.text}, ensure_ascii=False) + "\n"
                           for doc in part).encode()
            atomic_write_bytes(self.docs_path(name, split), blob)
            text_hash.update(blob)
            for doc in part:
                a, b = python_lines(doc.text)
                py, lines = py + a, lines + b
        stats.documents = len(docs)
        kind = "local" if "files" in d else "recipe"
        new = {
            "kind": kind,
            "description": d.get("description", ""),
            "license": d["license"],
            "sources": sources,
            "text_sha256": text_hash.hexdigest(),
            "bytes": sum(len(doc.text.encode()) for doc in docs),
            "documents": {s: len(by_split[s]) for s in SPLITS},
            "docs_sha256": {s: sha256_file(self.docs_path(name, s)) for s in SPLITS},
            "cleaning": asdict(stats),
            "leakage": {"python_lines": py, "lines": lines,
                        "share": round(py / lines, 6) if lines else 0.0,
                        "detector": "corpus.PYTHON_LINE; documents with more than "
                                    "LEAK_MAX_LINES such lines are dropped"},
        }
        if kind == "local":
            new["definition"] = d
        old = m["distributions"].get(name, {})
        m["distributions"][name] = {**new, **{k: old[k] for k in ("tokens", "tokens_sha256") if k in old}}
        if old.get("text_sha256") != new["text_sha256"]:
            m["distributions"][name].pop("tokens", None)
            m["distributions"][name].pop("tokens_sha256", None)
        self._save_manifest(m)

    def _docs_match(self, name: str, entry: dict[str, Any]) -> bool:
        want = entry.get("docs_sha256", {})
        return all(self.docs_path(name, s).exists() and sha256_file(self.docs_path(name, s)) == want.get(s)
                   for s in SPLITS)

    def _iter_docs(self, name: str, split: str) -> Iterator[dict[str, str]]:
        with open(self.docs_path(name, split), encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    def _ensure_tokenizer(self, building: list[str], vocab_size: int | None = None) -> bool:
        """Train the tokenizer unless the recorded one is here and was trained on the
        current sample at the wanted size; True when the tokenizer changed.

        The sample's sha256 is recorded, so rebuilt documents (a new split, a new
        cleaner) retrain it, and a fresh build and a rebuild give the same bytes."""
        m = self.manifest()
        tk = m.get("tokenizer")
        vocab_size = vocab_size or (tk or {}).get("vocab_size") or VOCAB_SIZE
        if tk:
            trained_on = tk["trained_on"]
        else:
            builtin = [n for n in self.recipes if "mix" not in self.recipes[n]]
            trained_on = sorted(builtin if any(n in self.recipes for n in building) else building)
        for n in trained_on:
            if not self.docs_path(n, "train").exists():
                self._build_documents(n, force=False)
        sample_sha = hashlib.sha256()
        for text in self.tokenizer_sample(trained_on):
            sample_sha.update(hashlib.sha256(text.encode()).digest())
        same_recipe = bool(tk) and tk["vocab_size"] == vocab_size and tk.get("sample_sha256") == sample_sha.hexdigest()
        if same_recipe and self.tokenizer_path.exists() and sha256_file(self.tokenizer_path) == tk["sha256"]:
            return False
        tok = train_tokenizer(self.tokenizer_sample(trained_on), vocab_size)
        text = tok.to_str()
        sha = _sha256_bytes(text.encode())
        if same_recipe and tk["sha256"] != sha:
            raise DataError(
                f"the tokenizer trained here (sha256 {sha[:12]}) differs from the manifest's "
                f"({tk['sha256'][:12]}) although the sample and size are the same: the `tokenizers` "
                f"library version differs from the one that built the manifest. Use that version, or rebuild every distribution "
                f"with `transfer-laws data build --force` to start over consistently.")
        atomic_write_text(self.tokenizer_path, text)
        m = self.manifest()
        m["tokenizer"] = {"sha256": sha, "vocab_size": tok.get_vocab_size(), "trained_on": trained_on,
                          "sample_chars_per_distribution": SAMPLE_CHARS, "sample_sha256": sample_sha.hexdigest()}
        self._save_manifest(m)
        return not tk or tk["sha256"] != sha

    def tokenizer_sample(self, names: list[str]) -> Iterator[str]:
        """What the tokenizer is trained on: the first ``SAMPLE_CHARS`` of each
        distribution's train documents, in their fixed order."""
        for n in names:
            size = 0
            for doc in self._iter_docs(n, "train"):
                if size >= SAMPLE_CHARS:
                    break
                size += len(doc["text"])
                yield doc["text"]

    def tokenizer(self):
        self._verify(self.tokenizer_path, (self.manifest().get("tokenizer") or {}).get("sha256"), "tokenizer")
        return load_tokenizer(self.tokenizer_path)

    def _build_tokens(self, name: str, force: bool) -> None:
        m = self.manifest()
        entry = m["distributions"].get(name, {})
        tokenizer_sha = m["tokenizer"]["sha256"]
        if not force and entry.get("tokens_sha256") and entry.get("tokenizer_sha256") == tokenizer_sha and all(
                self.tokens_path(name, s).exists() and sha256_file(self.tokens_path(name, s)) == entry["tokens_sha256"][s]
                for s in SPLITS):
            return
        d = self._definition(name)
        tok = self.tokenizer()
        eos = eos_id(tok)
        counts, shas, text_bytes = {}, {}, {}
        for split in SPLITS:
            if "mix" in d:
                ids, starts, text_bytes[split] = self._mix_tokens(d["mix"], split)
            else:
                ids, starts, text_bytes[split] = self._tokenize_docs(name, split, tok, eos)
            atomic_write_bytes(self.tokens_path(name, split), ids.astype(TOKEN_DTYPE).tobytes())
            atomic_write_bytes(self.index_path(name, split), starts.astype(np.uint64).tobytes())
            counts[split] = int(len(ids))
            shas[split] = sha256_file(self.tokens_path(name, split))
        m = self.manifest()
        e = m["distributions"].setdefault(name, {})
        e["tokens"] = counts
        e["tokens_sha256"] = shas
        e["tokenizer_sha256"] = tokenizer_sha
        e["text_bytes"] = text_bytes
        e["bytes_per_token"] = round(text_bytes["validation"] / counts["validation"], 4) if counts["validation"] else None
        if "mix" in d:
            e.update({"kind": "mix", "description": d.get("description", ""), "license": d["license"],
                      "sources": [{"distribution": c} for c in d["mix"]],
                      "text_sha256": _sha256_bytes("".join(shas[s] for s in SPLITS).encode()),
                      "bytes": sum(m["distributions"][c]["bytes"] for c in d["mix"]),
                      "leakage": _mix_leakage([m["distributions"][c]["leakage"] for c in d["mix"]])})
        self._save_manifest(m)

    def _tokenize_docs(self, name: str, split: str, tok, eos: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Token ids, document starts and UTF-8 bytes of a split's documents."""
        chunks, starts, pos, n_bytes = [], [], 0, 0
        batch: list[str] = []

        def flush() -> None:
            nonlocal pos
            for enc in tok.encode_batch(batch):
                ids = np.asarray(enc.ids + [eos], dtype=np.int64)
                starts.append(pos)
                chunks.append(ids)
                pos += len(ids)
            batch.clear()

        for doc in tqdm(self._iter_docs(name, split), desc=f"tokenize {name}/{split}", unit="doc", leave=False):
            batch.append(doc["text"])
            n_bytes += len(doc["text"].encode())
            if len(batch) == 512:
                flush()
        flush()
        ids = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        return ids, np.asarray(starts, dtype=np.int64), n_bytes

    def _mix_tokens(self, components: list[str], split: str) -> tuple[np.ndarray, np.ndarray, int]:
        """Interleave whole documents, always taking the next one from the component
        with fewer tokens so far, until one runs out: equal shares up to one document."""
        parts = []
        for c in components:
            ids = self.tokens(c, split)
            starts = np.fromfile(self.index_path(c, split), dtype=np.uint64).astype(np.int64)
            ends = np.append(starts[1:], len(ids))
            parts.append((ids, starts, ends))
        cursor = [0] * len(parts)
        taken = [0] * len(parts)
        out, out_starts, pos = [], [], 0
        while all(cursor[i] < len(parts[i][1]) for i in range(len(parts))):
            i = int(np.argmin(taken))
            ids, starts, ends = parts[i]
            doc = ids[starts[cursor[i]]:ends[cursor[i]]]
            out.append(doc)
            out_starts.append(pos)
            pos += len(doc)
            taken[i] += len(doc)
            cursor[i] += 1
        n_bytes = 0
        for c, n in zip(components, cursor):  # the bytes of the documents taken
            for _, doc in zip(range(n), self._iter_docs(c, split)):
                n_bytes += len(doc["text"].encode())
        return np.concatenate(out), np.asarray(out_starts, dtype=np.int64), n_bytes

    # --- read ----------------------------------------------------------------------
    def _verify(self, path: Path, sha: str | None, what: str) -> None:
        if path in self._verified:
            return
        if sha is None or not path.exists():
            raise DataError(f"{what} is not built (no {path}). Run `transfer-laws data build` first.")
        got = sha256_file(path)
        if got != sha:
            raise DataError(
                f"corrupt cache file {path}: its sha256 is {got[:12]}…, the manifest says {sha[:12]}…. "
                f"Delete it and run `transfer-laws data build --force` for that distribution.")
        self._verified.add(path)

    def tokens(self, name: str, split: str = "train", n_tokens: int | None = None) -> np.ndarray:
        """The first ``n_tokens`` tokens of a split (all of it when None), memory-mapped."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}.")
        self._definition(name)
        entry = self.manifest()["distributions"].get(name, {})
        path = self.tokens_path(name, split)
        tokenizer_sha = (self.manifest().get("tokenizer") or {}).get("sha256")
        if entry.get("tokens_sha256") and entry.get("tokenizer_sha256", tokenizer_sha) != tokenizer_sha:
            raise DataError(f"distribution {name!r} was tokenized with another tokenizer than the data folder's. "
                            f"Run `transfer-laws data build {name}` to retokenize it.")
        self._verify(path, entry.get("tokens_sha256", {}).get(split), f"distribution {name!r}")
        arr = np.memmap(path, dtype=TOKEN_DTYPE, mode="r")
        if n_tokens is not None:
            if n_tokens <= 0:
                raise DataError(f"asked for {n_tokens} tokens of {name}/{split}; sizes must be positive.")
            if n_tokens > len(arr):
                raise DataError(
                    f"asked for {n_tokens:,} tokens of {name}/{split}, which has only {len(arr):,}. "
                    f"Use a smaller size, or a larger distribution.")
            arr = arr[:n_tokens]
        return arr

    def split_tokens(self, name: str, split: str) -> int:
        entry = self.manifest()["distributions"].get(name, {})
        if "tokens" not in entry:
            self._definition(name)
            raise DataError(f"distribution {name!r} is not built. Run `transfer-laws data build {name}`.")
        return int(entry["tokens"][split])

    def listing(self) -> list[dict[str, Any]]:
        m = self.manifest()
        rows = []
        for name in self.known():
            e = m["distributions"].get(name, {})
            rows.append({
                "name": name,
                "kind": e.get("kind", "mix" if "mix" in self.recipes.get(name, {}) else "recipe"),
                "built": "tokens" in e,
                "license": e.get("license", self.recipes.get(name, {}).get("license", "")),
                "description": e.get("description", self.recipes.get(name, {}).get("description", "")),
                "sha256": e.get("text_sha256"),
                "bytes": e.get("bytes"),
                "train_tokens": e.get("tokens", {}).get("train"),
                "validation_tokens": e.get("tokens", {}).get("validation"),
                "test_tokens": e.get("tokens", {}).get("test"),
                "bytes_per_token": e.get("bytes_per_token"),
                "leakage_share": e.get("leakage", {}).get("share"),
                "sources": [s.get("artifact") or s.get("files") or s.get("distribution") for s in e.get("sources", [])]
                           or [s.get("artifact") for s in self.recipes.get(name, {}).get("sources", [])],
            })
        return rows


def _glob_root(pattern: str) -> str:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def _mix_leakage(parts: list[dict[str, Any]]) -> dict[str, Any]:
    py = sum(p["python_lines"] for p in parts)
    lines = sum(p["lines"] for p in parts)
    return {"python_lines": py, "lines": lines, "share": round(py / lines, 6) if lines else 0.0,
            "detector": parts[0].get("detector", "")}


__all__ = ["DataStore", "DataError", "ArtifactError", "default_root", "load_recipes"]
