"""Raw files -> clean, deduplicated, split documents.

Every step is a pure function of its input, so two builds give the same bytes:

1. decode: UTF-8 only; paragraphs that are not valid UTF-8 are dropped and counted.
2. clean (per distribution, ``CLEANERS``):
   - ``code``: a leading comment block that mentions a licence or copyright is
     removed (licence headers repeat verbatim across thousands of files and would
     otherwise be a large share of the text); line endings become ``\\n``.
   - ``prose``: dictionary/markup noise is removed: GCIDE's source tags (lines that
     are only ``[1913 Webster]``, ``[WordNet 1.5]``, ...), fortune separators (``%``)
     become paragraph breaks, and runs of blank lines are folded.
3. chunk: files longer than ``MAX_DOC_CHARS`` are cut at blank lines into documents of
   at most that size (a dictionary or the SQLite amalgamation is one file).
4. dedupe: exact duplicate documents (same sha256 of the cleaned text) are kept once.
5. leakage: in non-Python distributions, a document with more than
   ``LEAK_MAX_LINES`` Python-looking lines is dropped; the remaining share is reported.
6. split: the unit of the split is the source file, so the chunks of one file never
   straddle train and validation. A unit goes to train/validation/test by the hash of
   its id, so the split never depends on what else was built. The one exception, so
   that a corpus made of one giant file (GCIDE, the SQLite amalgamation) still gets
   validation and test text: a file of more than ``SECTION_DOCS`` chunks is cut into
   sections of ``SECTION_DOCS`` consecutive chunks (at most 128,000 characters each),
   and each section is a unit. In ids: document ``artifact:path#i`` belongs to unit
   ``artifact:path`` when ``i < SECTION_DOCS``, else to ``artifact:path#section=k``
   with ``k = i // SECTION_DOCS`` (``split_unit``). Chunk numbers count every chunk
   of the file, dropped ones included, so the units do not depend on cleaning.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

MAX_DOC_CHARS = 16_000
MIN_DOC_CHARS = 64
LEAK_MAX_LINES = 2
SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = {"validation": 0.03, "test": 0.03}  # the rest is train; 3% as in Hernandez et al.
SECTION_DOCS = 8  # a file of more chunks than this is split in sections of this many


@dataclass(frozen=True)
class Document:
    id: str
    text: str

    @property
    def split(self) -> str:
        return split_of(self.id)

    @property
    def order_key(self) -> str:
        """The fixed shuffled order of a distribution: by hash of the id."""
        return hashlib.sha256(("order:" + self.id).encode()).hexdigest()


def split_unit(doc_id: str) -> str:
    """The unit a document is split with: its file, or the file's section for a long file."""
    file_id, _, index = doc_id.rpartition("#")
    if not file_id or not index.isdigit():
        raise ValueError(f"document id {doc_id!r} is not of the form 'FILE#CHUNK'")
    section = int(index) // SECTION_DOCS
    return file_id if section == 0 else f"{file_id}#section={section}"


def split_of(doc_id: str) -> str:
    u = int(hashlib.sha256(("split:" + split_unit(doc_id)).encode()).hexdigest()[:12], 16) / 16**12
    if u < SPLIT_FRACTIONS["validation"]:
        return "validation"
    if u < SPLIT_FRACTIONS["validation"] + SPLIT_FRACTIONS["test"]:
        return "test"
    return "train"


# --- leakage -----------------------------------------------------------------------
# Lines that are Python and hardly anything else: def/class headers ending in a colon,
# Python's import forms, elif/except clauses, the __main__ guard. Go's `import "fmt"`,
# JavaScript's `import x from 'y';` and Perl's `use` do not match.
PYTHON_LINE = re.compile(
    r"""^\s*(?:
        (?:async\s+)?def\s+[A-Za-z_]\w*\s*\(.*\)\s*(?:->.*)?:\s*(?:\#.*)?$
      | class\s+[A-Za-z_]\w*\s*(?:\(.*\))?\s*:\s*(?:\#.*)?$
      | from\s+\.*[A-Za-z_][\w.]*\s+import\s+[\w*(][\w, ()*]*$
      | import\s+[A-Za-z_][\w.]*(?:\s+as\s+\w+)?(?:\s*,\s*[A-Za-z_][\w.]*(?:\s+as\s+\w+)?)*\s*$
      | elif\s.+:\s*$
      | except(?:\s+[\w.]+(?:\s+as\s+\w+)?|\s*\([\w., ]+\)(?:\s+as\s+\w+)?)?\s*:\s*$
      | if\s+__name__\s*==\s*['"]__main__['"]\s*:
    )""",
    re.VERBOSE,
)


def python_lines(text: str) -> tuple[int, int]:
    """(Python-looking lines, non-blank lines) of a text."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return sum(1 for ln in lines if PYTHON_LINE.match(ln)), len(lines)


# --- cleaners ------------------------------------------------------------------------
_COMMENT = re.compile(r"^\s*(?://|/\*|\*|#|%|--|;|\*/)")
_LICENSE_WORDS = re.compile(r"licen[cs]e|copyright|permission is hereby granted|spdx", re.I)
_GCIDE_TAG = re.compile(r"^\s*\[(?:1913 Webster|WordNet 1\.5|PJC|RHD|Century Dict\.|Webster 1913 Suppl\.|[A-Z][\w .]{0,30})\]\s*$")
_BLANKS = re.compile(r"\n{3,}")


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_license_header(text: str) -> str:
    lines = text.split("\n")
    shebang = lines[:1] if lines[0].startswith("#!") else []
    i = len(shebang)
    while i < len(lines) and not lines[i].strip():
        i += 1
    j = i
    while j < len(lines) and _COMMENT.match(lines[j]):
        j += 1
    if j > i and _LICENSE_WORDS.search("\n".join(lines[i:j])):
        return "\n".join(shebang + lines[j:]).lstrip("\n")
    return text


def clean_code(text: str) -> str:
    return strip_license_header(_normalise(text))


def clean_prose(text: str) -> str:
    text = _normalise(text)
    out = []
    for line in text.split("\n"):
        if _GCIDE_TAG.match(line):
            continue
        out.append("" if line.strip() == "%" else line.rstrip())
    return _BLANKS.sub("\n\n", "\n".join(out)).strip("\n") + "\n"


CLEANERS: dict[str, Callable[[str], str]] = {"code": clean_code, "prose": clean_prose}


def chunk(text: str, limit: int = MAX_DOC_CHARS) -> list[str]:
    """Cut a long text at blank lines (else at line ends) into pieces of at most ``limit``."""
    if len(text) <= limit:
        return [text]
    pieces, cur, size = [], [], 0
    for para in re.split(r"(?<=\n\n)", text):
        while len(para) > limit:  # a paragraph longer than a document: cut at line ends
            cut = para.rfind("\n", 0, limit)
            cut = cut + 1 if cut > 0 else limit
            if cur:
                pieces.append("".join(cur))
                cur, size = [], 0
            pieces.append(para[:cut])
            para = para[cut:]
        if size + len(para) > limit and cur:
            pieces.append("".join(cur))
            cur, size = [], 0
        cur.append(para)
        size += len(para)
    if cur:
        pieces.append("".join(cur))
    return pieces


def _valid_utf8_paragraphs(raw: bytes, stats: "BuildStats") -> str:
    """A file that is not valid UTF-8 keeps its valid paragraphs; the invalid ones
    (e.g. three stray cp1252 apostrophes in the 40 MB GCIDE file) are dropped and counted."""
    kept = []
    for para in raw.split(b"\n\n"):
        try:
            kept.append(para.decode("utf-8"))
        except UnicodeDecodeError:
            stats.not_utf8 += 1
    return "\n\n".join(kept)


@dataclass
class BuildStats:
    files: int = 0
    not_utf8: int = 0  # files, or paragraphs of large files, dropped for invalid UTF-8
    too_short: int = 0
    duplicates: int = 0
    leaky_documents: int = 0
    documents: int = 0


def documents_from_files(
    files: Iterable[tuple[str, bytes]],
    cleaner: str,
    stats: BuildStats,
    seen: set[str],
    check_leakage: bool,
) -> Iterator[Document]:
    """Turn (id, raw bytes) pairs into clean, chunked, deduplicated documents.

    ``seen`` holds the hashes of documents already emitted (shared across the
    sources of one distribution so that duplicates between sources are removed too).
    """
    clean = CLEANERS[cleaner]
    for file_id, raw in files:
        stats.files += 1
        if file_id.endswith(".dz") or file_id.endswith(".gz"):
            import gzip

            raw = gzip.decompress(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = _valid_utf8_paragraphs(raw, stats)
            if not text:
                continue
        text = clean(text)
        for i, piece in enumerate(chunk(text)):
            if len(piece.strip()) < MIN_DOC_CHARS:
                stats.too_short += 1
                continue
            h = hashlib.sha256(piece.encode()).hexdigest()
            if h in seen:
                stats.duplicates += 1
                continue
            seen.add(h)
            if check_leakage:
                py, _ = python_lines(piece)
                if py > LEAK_MAX_LINES:
                    stats.leaky_documents += 1
                    continue
            stats.documents += 1
            yield Document(f"{file_id}#{i}", piece)
