"""Run records: one JSON file per finished run, named by the hash of its config.

A record holds the config, the result (for a from-scratch or fine-tuning run: the test
loss measured once after training, per document too, how the run stopped, and the step
of the kept checkpoint; for a pre-training run: the source loss of each p checkpoint),
the whole curve, and provenance (git commit, library versions, hardware, seed, wall
time, tokens/s). Records are written atomically and never rewritten; the loader
validates each one and names the file of any record it cannot read.

Run ids come from a versioned config schema (``CONFIG_SCHEMA``): the id is the hash of
the config with every field that was added after the schema began left out while it
holds the value every earlier run implicitly had (``ADDED_FIELDS``). Adding a field with a
default therefore renames no record. Records of schema 1 (the first engine: capped runs,
one seed) are not read: they stay in git history (commit bf90aa9), and fits never mix them
with schema-2 runs.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterator

from .atomic import atomic_write_text
from .errors import InputError

RUNS_DIR = "runs"
KINDS = ("pretrain", "scratch", "finetune")
REQUIRED = {"config", "run_id", "result", "curve", "provenance"}
RESULT_KEYS = {"loss", "stop_loss", "stopped", "best_step", "n_params"}
PRETRAIN_RESULT_KEYS = {"checkpoints", "n_params"}
STOPPED = ("early_stop", "budget")
EXPORT_COLUMNS = ["kind", "n_params", "tokens", "pretrain_tokens", "loss", "source", "target", "seed", "stopped"]

CONFIG_SCHEMA = 2
# Fields added to run configs after schema 2 began, each with the value that every run
# before it implicitly had ("train.x" is key x of the config's "train" table). A field
# listed here is left out of the run id while it holds that value, so adding it renames
# nothing. Never change or remove an entry; append.
ADDED_FIELDS: dict[str, Any] = {}


class CorruptRecordError(InputError):
    """A run record exists but cannot be read or fails validation."""


_MISSING = object()


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    """The config as its id sees it: added fields at their implicit value left out, at
    every level (a fine-tune's config embeds its pretrain's)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            value = _identity(value) if key == "pretrain" else {
                k: v for k, v in value.items() if ADDED_FIELDS.get(f"{key}.{k}", _MISSING) != v}
        if ADDED_FIELDS.get(key, _MISSING) != value:
            out[key] = value
    return out


def run_id(config: dict[str, Any]) -> str:
    canonical = json.dumps(_identity(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def record_path(results: Path, rid: str) -> Path:
    return Path(results) / RUNS_DIR / f"{rid}.json"


COMMIT_ENV = "TRANSFER_LAWS_GIT_COMMIT"


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the code this process runs, read once: a sweep that runs for
    hours records the commit it started from, not whatever HEAD is when a run ends.
    ``-dirty`` marks uncommitted changes to tracked files at that moment. The value is
    passed on through the environment, so the worker processes a sweep spawns record the
    sweep's commit, not the tree's state when they start."""
    if COMMIT_ENV in os.environ:
        return os.environ[COMMIT_ENV] or None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit = out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit = None
    os.environ[COMMIT_ENV] = commit or ""
    return commit


def hardware(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({torch.get_num_threads()} threads)"


def provenance(device: str, seed: int, wall_s: float, tokens_per_s: float) -> dict[str, Any]:
    import torch
    import transformers

    return {
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "hardware": hardware(device),
        "device": device,
        "seed": seed,
        "wall_s": round(wall_s, 3),
        "tokens_per_s": round(tokens_per_s, 1),
    }


def write_record(results: Path, record: dict[str, Any]) -> Path:
    validate(record, "<new record>")
    path = record_path(results, record["run_id"])
    if path.exists():
        raise FileExistsError(f"{path} already exists; finished runs are never rewritten")
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def validate(record: Any, name: str) -> None:
    if not isinstance(record, dict):
        raise CorruptRecordError(f"{name}: a run record must be a JSON object")
    missing = REQUIRED - set(record)
    if missing:
        raise CorruptRecordError(f"{name}: missing {', '.join(sorted(missing))}")
    cfg, res = record["config"], record["result"]
    if not isinstance(cfg, dict) or cfg.get("schema") != CONFIG_SCHEMA:
        raise CorruptRecordError(
            f"{name}: config schema {cfg.get('schema', 1) if isinstance(cfg, dict) else '?'}, this engine reads "
            f"schema {CONFIG_SCHEMA}; records of the first engine stay in git history and are not mixed with these")
    if cfg.get("kind") not in KINDS:
        raise CorruptRecordError(f"{name}: unknown kind {cfg.get('kind')!r}")
    if run_id(cfg) != record["run_id"]:
        raise CorruptRecordError(f"{name}: run_id does not match the hash of its config (edited by hand?)")
    keys = PRETRAIN_RESULT_KEYS if cfg["kind"] == "pretrain" else RESULT_KEYS
    if not keys <= set(res):
        raise CorruptRecordError(f"{name}: result lacks {', '.join(sorted(keys - set(res)))}")
    losses = [c["val_loss"] for c in res["checkpoints"].values()] if cfg["kind"] == "pretrain" else [res["loss"]]
    for loss in losses:
        if not isinstance(loss, (int, float)) or not (0 < loss < 100):
            raise CorruptRecordError(f"{name}: loss {loss!r} is not a finite positive loss")
    if cfg["kind"] != "pretrain" and res["stopped"] not in STOPPED:
        raise CorruptRecordError(f"{name}: stopped is {res['stopped']!r}, not one of {', '.join(STOPPED)}")


def load_record(path: Path) -> dict[str, Any]:
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptRecordError(
            f"corrupt run record {path}: {e}. Move it away and rerun the sweep to redo that run.") from None
    try:
        validate(rec, str(path))
    except CorruptRecordError as e:
        raise CorruptRecordError(f"corrupt run record {e}. Move it away and rerun the sweep to redo that run.") from None
    if Path(path).stem != rec["run_id"]:
        raise CorruptRecordError(f"corrupt run record {path}: file name does not match run_id {rec['run_id']}")
    return rec


def iter_records(results: Path) -> Iterator[dict[str, Any]]:
    folder = Path(results) / RUNS_DIR
    if not folder.exists():
        return
    for path in sorted(folder.glob("*.json")):
        yield load_record(path)


def load_records(results: Path) -> list[dict[str, Any]]:
    return list(iter_records(results))


def runs_table_rows(records: list[dict[str, Any]], source: str | None = None, target: str | None = None) -> list[dict[str, Any]]:
    """The RUNS.csv rows (see transfer_laws.runs_table) of scratch and finetune records."""
    rows = []
    for r in records:
        c = r["config"]
        if c["kind"] == "pretrain":
            continue
        src = c["pretrain"]["source"] if c["kind"] == "finetune" else ""  # a finetune config embeds its pretrain's
        if target and c["target"] != target:
            continue
        if source and c["kind"] == "finetune" and src != source:
            continue
        rows.append({
            "kind": c["kind"],
            "n_params": r["result"]["n_params"],
            "tokens": c["tokens"],
            "pretrain_tokens": c["pretrain_tokens"] if c["kind"] == "finetune" else "",
            "loss": r["result"]["loss"],
            "source": src,
            "target": c["target"],
            "seed": c["seed"],
            "stopped": r["result"]["stopped"],
        })
    rows.sort(key=lambda x: (x["kind"], x["source"], x["n_params"], str(x["pretrain_tokens"]), x["tokens"], x["seed"]))
    return rows


def export_runs(results: Path, output: Path, source: str | None = None, target: str | None = None,
                run_ids: set[str] | None = None) -> int:
    records = load_records(results)
    if run_ids is not None:  # only the runs one study planned
        records = [r for r in records if r["run_id"] in run_ids]
    rows = runs_table_rows(records, source, target)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=EXPORT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return len(rows)
