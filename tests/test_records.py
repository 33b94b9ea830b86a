"""The committed run records: each one is what its name says, and none breaks the
engine's stopping rule (a check that runs on every record, not a claim made once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transfer_laws.records import CONFIG_SCHEMA, run_id
from transfer_laws.train import TrainConfig, min_stop_step

RUNS = sorted((Path(__file__).resolve().parents[1] / "results" / "runs").glob("*.json"))


def _records():
    for path in RUNS:
        yield path, json.loads(path.read_text())


@pytest.mark.skipif(not RUNS, reason="no committed records")
def test_every_record_is_named_by_the_hash_of_its_config():
    bad = [p.name for p, r in _records() if not (p.stem == r["run_id"] == run_id(r["config"]))]
    assert not bad, f"records whose name, run_id and config hash disagree: {bad[:5]}"


@pytest.mark.skipif(not RUNS, reason="no committed records")
def test_no_current_record_stopped_early_before_two_epochs_of_its_data():
    early = []
    for path, r in _records():
        c = r["config"]
        if c.get("schema") != CONFIG_SCHEMA or c["kind"] == "pretrain" or r["result"]["stopped"] != "early_stop":
            continue
        cfg = TrainConfig(**c["train"])
        stop = max(p["step"] for p in r["curve"] if p["phase"] in ("warmup", "stable"))
        if stop < min_stop_step(c["tokens"], c["shape"]["n_ctx"], cfg):
            early.append(f"{path.name} (stopped at step {stop})")
    assert not early, ("records stopped before train.MIN_EPOCHS_BEFORE_STOP epochs: " + ", ".join(early)
                       + "; delete them and run the sweep again to retrain them under the rule")
