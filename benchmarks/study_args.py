"""The command line of the benchmarks that read one study's records: which study, and
where its records are."""

from __future__ import annotations

import argparse


def study_parser(doc: str) -> argparse.ArgumentParser:
    """A parser with --source, --target, --profile and --results; ``doc``'s first line
    is its description."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--results", default="results")
    return ap
