"""The committed run records: each one is what its name says, and none breaks the
engine's stopping rule (a check that runs on every record, not a claim made once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transfer_laws.records import CONFIG_SCHEMA, run_id
from transfer_laws.study import load_profile
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


@pytest.mark.skipif(not RUNS, reason="no committed records")
def test_table_1_reads_the_seeds_with_every_size_and_the_gap_reads_the_grid_seeds_too():
    """The grid seeds have no from-scratch runs: they stay out of the Hernandez fit's runs
    (main_runs) and enter the transfer gap's fit at their size."""
    from transfer_laws.analysis import read_study
    from transfer_laws.gap import gap_points

    root = RUNS[0].parents[2]
    sd = read_study("code", "python", "cpu", results=root / "results", data_dir=str(root / "data"))
    pt = load_profile("cpu")["pretrain_tokens"]
    grid = sd.runs[sd.runs["seed"].isin(pt["grid_seeds"])]
    assert set(sd.main_runs["seed"]) <= set(load_profile("cpu")["seeds"])
    assert set(grid["n_params"].round(-3)) <= {float(n) for n in pt["grid_seeds_size"]}
    assert "scratch" not in set(grid["kind"])
    points = gap_points(sd.runs)
    for n, pts in points.items():
        assert len(pts) == (sd.runs["kind"].eq("finetune") & sd.runs["n_params"].eq(n)).sum()
    assert set(grid["n_params"]) <= set(points)
