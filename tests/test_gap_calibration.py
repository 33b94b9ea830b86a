"""G's interval calibrated on the design: the statistic at the truth, the stored
calibration and how the book's fits use it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from transfer_laws.gap import (calibrate_gap, calibration_path, read_gap_calibration, statistic_at, study_gap_fits,
                               write_gap_calibration)
from transfer_laws.laws import fit_barnett
from transfer_laws.laws.barnett import CHI2_1_95
from transfer_laws.synthetic import barnett_runs

TRUE = {"A": 8.0, "alpha": 0.3, "G": 0.8, "beta": 0.1, "E": 1.0}


def _runs(seed: int = 1, noise: float = 0.003):
    runs = barnett_runs(TRUE, seed=seed, noise=noise, p_grid=np.geomspace(1e5, 1e8, 4),
                        f_grid=np.geomspace(1e3, 1e6, 3))
    # three seeds, each with every (p, f): the offsets a seed's runs share are what the
    # calibration must carry over
    return (runs.loc[runs.index.repeat(3)].assign(seed=np.tile([0, 1, 2], len(runs)))
            .assign(loss=lambda d: d["loss"] * np.exp(np.random.default_rng(seed).normal(0, noise, len(d))))
            .reset_index(drop=True))


def test_the_statistic_is_small_at_the_true_gap_and_large_far_from_it():
    runs = _runs()
    P, F, L = (runs[c].to_numpy(float) for c in ("pretrain_tokens", "tokens", "loss"))
    assert statistic_at(P, F, L, TRUE["G"]) < CHI2_1_95
    assert statistic_at(P, F, L, 3 * TRUE["G"]) > 10 * CHI2_1_95


def test_a_larger_critical_value_widens_the_gap_interval_and_only_it():
    runs = _runs()
    plain = fit_barnett(runs, n_boot=0, profile=True)
    wide = fit_barnett(runs, n_boot=0, profile=True, g_critical=4 * CHI2_1_95)
    (lo, hi), (wlo, whi) = plain.conf_int().loc["G"], wide.conf_int().loc["G"]
    assert wlo < lo < TRUE["G"] < hi < whi
    assert np.allclose(plain.conf_int().loc["beta"], wide.conf_int().loc["beta"])
    assert wide.info["g_critical"] == 4 * CHI2_1_95


@pytest.fixture(scope="module")
def calibrated():
    runs = _runs()
    return runs, calibrate_gap(runs, 1e5, draws=12, seed=0)


def test_calibration_reports_coverage_and_never_narrows_the_interval(calibrated):
    runs, entry = calibrated
    assert entry["draws"] == 12 and entry["runs"] == len(runs)
    assert 0.0 <= entry["coverage_chi2"] <= 1.0
    assert entry["q50"] <= entry["q90"] <= entry["q95"]
    assert entry["critical"] == max(CHI2_1_95, entry["q95"])
    assert abs(entry["G_true"] - TRUE["G"]) < 0.2 * TRUE["G"]


def _study(runs):
    return SimpleNamespace(runs=runs.assign(kind="finetune", n_params=1e5), source="a", target="b", profile="t")


def test_the_books_fit_uses_a_stored_calibration_until_its_runs_change(calibrated, tmp_path):
    runs, entry = calibrated
    entry = {**entry, "critical": 9.0}  # a critical value the χ²₁ default could not give
    path = write_gap_calibration(tmp_path, "a", "b", "t", [entry], "test")
    assert json.loads(path.read_text())["provenance"]["command"] == "test"
    (g,) = study_gap_fits(_study(runs), tmp_path)
    assert g.critical == 9.0 and g.fit.info["g_critical"] == 9.0 and g.note == ""
    # the G profile on the χ²₁ scale: under 3.84 inside the calibrated interval, over it outside
    lo, hi = g.fit.conf_int().loc["G"]
    prof = g.g_profile()
    inside = prof["value"].between(lo, hi)
    assert prof.loc[inside, "stat"].max() <= CHI2_1_95 < prof.loc[~inside, "stat"].min()

    changed = runs.assign(loss=runs["loss"] * 1.001)
    (g,) = study_gap_fits(_study(changed), tmp_path)
    assert g.critical == CHI2_1_95 and "changed since" in g.note


def test_a_corrupt_calibration_file_is_reported_and_left_alone(calibrated, tmp_path):
    runs, _ = calibrated
    path = calibration_path(tmp_path, "a", "b", "t")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    entries, note = read_gap_calibration(tmp_path, "a", "b", "t")
    assert entries == {} and "cannot be read" in note and "--write" in note
    (g,) = study_gap_fits(_study(runs), tmp_path)
    assert g.critical == CHI2_1_95 and "cannot be read" in g.note
    assert path.read_text() == "{not json"


def test_a_study_without_a_calibration_says_how_to_make_one(calibrated, tmp_path):
    runs, _ = calibrated
    (g,) = study_gap_fits(_study(runs), tmp_path)
    assert g.critical == CHI2_1_95 and "gap_calibration.py --write" in g.note
