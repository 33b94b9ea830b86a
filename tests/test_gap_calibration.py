"""G's interval calibrated on the design: the statistic at the truth, the stored
calibration and how the book's fits use it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from transfer_laws.gap import (CALIBRATION_VERSION, MISFIT_PARTS, GapNoise, calibrate_gap, calibration_path, cell_residuals, gap_points,
                               misfit_p, misfit_tests, noise_draw, read_gap_calibration, residual_noise, statistic_at,
                               study_gap_fits, write_gap_calibration)
from transfer_laws.errors import InputError
from transfer_laws.laws import fit_barnett
from transfer_laws.laws.barnett import CHI2_1_95
from transfer_laws.synthetic import barnett_runs

TRUE = {"A": 8.0, "alpha": 0.3, "G": 0.8, "beta": 0.1, "E": 1.0}


def _runs(seed: int = 1, noise: float = 0.003, seed_offset: float = 0.0, seeds: int = 3, misfit: float = 0.0):
    """Every (p, f) once per seed; a seed's runs share an offset (one pre-training pass and
    one D_F subset per seed), each run has its own scatter, and ``misfit``: an offset per
    (p, f) that every seed shares (a law that does not fit)."""
    grid = barnett_runs(TRUE, noise=0.0, p_grid=np.geomspace(1e5, 1e8, 4), f_grid=np.geomspace(1e3, 1e6, 3))
    rng = np.random.default_rng(seed)
    runs = grid.loc[grid.index.repeat(seeds)].assign(seed=np.tile(np.arange(seeds), len(grid))).reset_index(drop=True)
    offsets = rng.normal(0, seed_offset, seeds)[runs["seed"].to_numpy()]
    scatter = rng.normal(0, noise, len(runs))
    cell = rng.normal(0, misfit, len(grid))[np.repeat(np.arange(len(grid)), seeds)] if misfit else 0.0
    return runs.assign(loss=runs["loss"] * np.exp(offsets + scatter + cell))


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
    return runs, calibrate_gap(runs, 1e5, draws=8, seed=0, closure=True)


def test_calibration_reports_its_draws_and_closure(calibrated):
    runs, entry = calibrated
    assert entry["draws"] == 8 and entry["runs"] == len(runs)
    assert abs(entry["G_true"] - TRUE["G"]) < 0.2 * TRUE["G"]
    for k in ("chi2", "calibrated"):
        assert 0 <= entry[f"closed_covering_{k}"] <= entry[f"closed_{k}"] <= entry["draws"]
    # a well-identified G on this grid: its interval closes in most draws
    assert entry["closed_chi2"] >= 6


def test_a_statistic_inflated_by_the_design_raises_the_critical_value(monkeypatch):
    # where the design makes the statistic at the truth twice χ²₁, χ²₁'s interval covers
    # P(χ²₁ < 1.92) = 0.83 and the calibrated critical value is about 2 × 3.84
    import transfer_laws.gap as gap

    rng = np.random.default_rng(0)
    monkeypatch.setattr(gap, "statistic_at", lambda P, F, L, g, profile=False: 2 * rng.chisquare(1))
    entry = gap.calibrate_gap(_runs(), 1e5, draws=400, seed=0)
    assert 0.78 < entry["coverage_chi2"] < 0.88
    assert 1.6 * CHI2_1_95 < entry["critical"] < 2.5 * CHI2_1_95


def test_what_if_designs_draw_on_their_own_rows_and_noise(tmp_path):
    # a misfit every seed shares: 4x the seeds sharpen the statistic at the true G (σ̂
    # shrinks, the misfit does not), and without the misfit it falls back toward χ²₁
    from dataclasses import replace

    runs = _runs(seed=3, noise=0.003, misfit=0.01)
    z = residual_noise(fit_barnett(runs, n_boot=0), runs)
    rows = runs[["pretrain_tokens", "tokens", "seed"]]
    more = pd.concat([rows.assign(seed=rows["seed"] + 1000 * k) for k in range(4)], ignore_index=True)
    as_run = calibrate_gap(runs, 1e5, draws=10, seed=0)
    seeds4 = calibrate_gap(runs, 1e5, draws=10, seed=0, design=more)
    fits = calibrate_gap(runs, 1e5, draws=10, seed=0, noise=replace(z, cell=0.0))
    assert (as_run["runs"], seeds4["runs"]) == (len(runs), 4 * len(runs))
    assert seeds4["q50"] > 2 * as_run["q50"]
    assert fits["sigma_cell"] == 0.0 and fits["critical"] < as_run["critical"]
    # a what-if draw is never stored, nor read, as the fits' calibration
    assert not as_run["what_if"] and seeds4["what_if"] and fits["what_if"]
    with pytest.raises(InputError, match="what-if"):
        write_gap_calibration(tmp_path, "a", "b", "cpu", [seeds4], command="test")


def test_a_seed_offset_enters_the_scatter_and_does_not_narrow_the_interval():
    # a seed's runs share an offset 5x their scatter: it shows in σ̂, so χ²₁'s interval
    # stays wide enough (what undercovers on our design is the shape of the fit, not this)
    runs = _runs(seed=4, noise=0.002, seed_offset=0.01)
    entry = calibrate_gap(runs, 1e5, draws=12, seed=0)
    assert entry["coverage_chi2"] >= 0.9


def test_residual_noise_recovers_a_known_seed_offset_and_finds_no_misfit_where_the_law_holds():
    runs = _runs(seed=5, noise=0.003, seed_offset=0.01, seeds=40)
    z = residual_noise(fit_barnett(runs, n_boot=0), runs)
    assert 0.006 < z.seed < 0.015 and 0.0025 < z.within < 0.0036
    assert z.cell < 0.001 and z.lof_p > 0.05
    assert (z.lof_df, z.pure_df) == (12 - 5, len(runs) - 12 - 39)


def test_a_misfit_every_seed_shares_is_found_and_rejects_the_law():
    # each (p, f) off the law by its own 0.01 in log-loss, the same for every seed: the
    # lack-of-fit test rejects the law, and the misfit is told apart from the scatter
    runs = _runs(seed=6, noise=0.003, seeds=12, misfit=0.01)
    fit = fit_barnett(runs, n_boot=0)
    z = residual_noise(fit, runs)
    assert z.lof_p < 0.05 and z.lof_F > 10
    assert 0.004 < z.cell < 0.02 and 0.0025 < z.within < 0.0036
    tests = misfit_tests(fit, runs)
    assert list(tests.index) == list(MISFIT_PARTS) and misfit_p(tests) < 0.001


def test_offsets_a_seeds_subsets_share_are_not_read_as_misfit():
    # every p of a seed fine-tuned on one D_F subset (a (seed, f) offset) and every f on one
    # checkpoint (a (seed, p) offset), large against the scatter, and the law holds: the f
    # columns and p rows are read against the offsets they share, so neither rejects the
    # form. (The p × f part, read against the scatter, over-rejects when the offsets are many
    # times the scatter: the law's constants absorb them and bend its interaction; see
    # misfit_tests.)
    runs = _runs(seed=8, noise=0.003, seeds=6)
    rng = np.random.default_rng(9)
    for keys in (["seed", "tokens"], ["seed", "pretrain_tokens"]):
        codes = runs.groupby(keys).ngroup().to_numpy()
        runs["loss"] *= np.exp(rng.normal(0, 0.02, codes.max() + 1)[codes])
    tests = misfit_tests(fit_barnett(runs, n_boot=0), runs)
    assert tests.loc["f", "p"] > 0.05 and tests.loc["p", "p"] > 0.05
    assert tests.loc["f", "df_error"] == (6 - 1) * (3 - 1) and tests.loc["p", "df_error"] == (6 - 1) * (4 - 1)


def test_cell_residuals_point_at_the_one_cell_off_the_law():
    # one (p, f) cell 5% worse than the law for every seed, the rest on it: that cell's mean
    # residual stands out by many standard errors, and no other cell does
    runs = _runs(seed=7, noise=0.003, seed_offset=0.01, seeds=6)
    cell = (runs["pretrain_tokens"] == runs["pretrain_tokens"].max()) & (runs["tokens"] == runs["tokens"].min())
    runs.loc[cell, "loss"] *= np.exp(0.05)
    cells = cell_residuals(fit_barnett(runs, n_boot=0), runs)
    assert len(cells) == 12 and (cells["runs"] == 6).all() and (cells["se"] > 0).all()
    z = cells["residual"] / cells["se"]
    worst = cells.loc[z.abs().idxmax()]
    assert (worst["pretrain_tokens"], worst["tokens"]) == (runs["pretrain_tokens"].max(), runs["tokens"].min())
    assert worst["residual"] > 0.02 and z.abs().sort_values().iloc[-2] < z.abs().max() / 2


def test_the_noise_draw_shares_each_offset_where_the_design_does():
    rng = np.random.default_rng(0)
    design = _runs()[["pretrain_tokens", "tokens", "seed"]]
    cell = noise_draw(rng, design, GapNoise(0, 0, 0.1, 0, np.nan, 0, 0, np.nan))
    by_cell = design.assign(x=cell).groupby(["pretrain_tokens", "tokens"])["x"]
    assert (by_cell.nunique() == 1).all() and by_cell.first().nunique() == by_cell.ngroups
    seed = noise_draw(rng, design, GapNoise(0.1, 0, 0, 0, np.nan, 0, 0, np.nan))
    assert (design.assign(x=seed).groupby("seed")["x"].nunique() == 1).all()
    seed_f = noise_draw(rng, design, GapNoise(0, 0.1, 0, 0, np.nan, 0, 0, np.nan))
    assert (design.assign(x=seed_f).groupby(["seed", "tokens"])["x"].nunique() == 1).all()
    assert design.assign(x=seed_f).groupby("seed")["x"].nunique().min() == design["tokens"].nunique()
    seed_p = noise_draw(rng, design, GapNoise(0, 0, 0, 0, np.nan, 0, 0, np.nan, seed_p=0.1))
    assert (design.assign(x=seed_p).groupby(["seed", "pretrain_tokens"])["x"].nunique() == 1).all()
    assert design.assign(x=seed_p).groupby("seed")["x"].nunique().min() == design["pretrain_tokens"].nunique()


def test_residual_noise_tells_a_checkpoints_offset_from_a_subsets():
    # a (seed, p) offset (every f fine-tuned from one checkpoint) and a (seed, f) offset
    # (every p fine-tuned on one D_F subset), of known sizes, with the law holding: each is
    # recovered as its own part, neither is read as misfit or as the other
    runs = _runs(seed=11, noise=0.003, seeds=12)
    rng = np.random.default_rng(12)
    for keys, sigma in ((["seed", "tokens"], 0.01), (["seed", "pretrain_tokens"], 0.02)):
        codes = runs.groupby(keys).ngroup().to_numpy()
        runs["loss"] *= np.exp(rng.normal(0, sigma, codes.max() + 1)[codes])
    z = residual_noise(fit_barnett(runs, n_boot=0), runs)
    assert 0.006 < z.seed_f < 0.014 and 0.014 < z.seed_p < 0.027
    assert 0.0024 < z.within < 0.0037 and z.cell < 0.004
    # without the (seed, p) part the same runs' offset goes to the scatter instead
    plain = _runs(seed=11, noise=0.003, seeds=12)
    assert residual_noise(fit_barnett(plain, n_boot=0), plain).seed_p < 0.002


def _unbalanced_grid():
    """The design as run: six p, the main (largest) p fine-tuned on one more f than the others."""
    grid = barnett_runs(TRUE, noise=0.0, p_grid=np.geomspace(1e5, 1e8, 6), f_grid=np.geomspace(1e3, 1e6, 4))
    return grid[(grid["tokens"] < 1e6 - 1) | (grid["pretrain_tokens"] > 1e8 - 1)].reset_index(drop=True)


def _offsets(runs: pd.DataFrame, rng: np.random.Generator, sigmas: dict) -> np.ndarray:
    """A draw of offsets shared by the runs of each group: {columns: σ}."""
    out = np.zeros(len(runs))
    for keys, sigma in sigmas.items():
        codes = runs.groupby(list(keys)).ngroup().to_numpy()
        out += rng.normal(0, sigma, codes.max() + 1)[codes]
    return out


def test_the_added_variance_divides_by_what_the_offsets_put_in_the_sum_of_squares():
    # Henderson's method III on the unbalanced layout: a sum of squares is a quadratic form
    # in the residuals, so its expectation under offsets of variance σ² is its sum over the
    # columns of σ·Z; with the scatter term off, the estimates summed over those columns
    # are σ² exactly, and offsets already in the base add nothing (dividing by df times a
    # group size instead reads this layout's offsets 5-9% low)
    from transfer_laws.gap import _added_variance, _indicators, _rss

    runs = _unbalanced_grid()
    runs = runs.loc[runs.index.repeat(4)].assign(seed=np.tile(np.arange(4), len(runs))).reset_index(drop=True)
    C, SF, SP = (_indicators(pd.MultiIndex.from_arrays([runs[c] for c in cols])) for cols in
                 (("pretrain_tokens", "tokens"), ("seed", "tokens"), ("seed", "pretrain_tokens")))
    full = np.column_stack([C, SF, SP])
    for added, base, sigma in ((SF, np.column_stack([C, SP]), 0.012), (SP, np.column_stack([C, SF]), 0.02)):
        def summed(columns):
            total = 0.0
            for r in columns.T:
                ss_all, rank_all = _rss(r, full)
                total += _added_variance(r, base, added, ss_all, rank_all, ms_within=0.0)
            return total
        assert summed(sigma * added) == pytest.approx(sigma**2, rel=1e-9)
        assert summed(0.05 * base) == pytest.approx(0.0, abs=1e-12)


def test_residual_noise_recovers_each_offset_through_a_law_fit():
    # every part at once, on the unbalanced layout and through the Barnett fit: each
    # comes back near its size on average over draws (the seed's, on 12 seeds, loosely)
    grid = _unbalanced_grid()
    truth = {("seed",): 0.015, ("seed", "tokens"): 0.012, ("seed", "pretrain_tokens"): 0.02,
             ("pretrain_tokens", "tokens"): 0.008}
    names = {("seed",): "seed", ("seed", "tokens"): "seed_f", ("seed", "pretrain_tokens"): "seed_p",
             ("pretrain_tokens", "tokens"): "cell"}
    estimates = {k: [] for k in (*names.values(), "within")}
    for draw in range(8):
        rng = np.random.default_rng(100 + draw)
        runs = grid.loc[grid.index.repeat(12)].assign(seed=np.tile(np.arange(12), len(grid))).reset_index(drop=True)
        noise = _offsets(runs, rng, truth) + rng.normal(0, 0.004, len(runs))
        runs = runs.assign(loss=runs["loss"] * np.exp(noise))
        z = residual_noise(fit_barnett(runs, n_boot=0), runs)
        for k in estimates:
            estimates[k].append(getattr(z, k) ** 2)
    mean = {k: float(np.mean(v)) for k, v in estimates.items()}
    for keys, name in names.items():
        band = (0.5, 1.6) if name in ("seed", "cell") else (0.75, 1.25)
        assert band[0] * truth[keys] ** 2 < mean[name] < band[1] * truth[keys] ** 2, (name, np.sqrt(mean[name]))
    assert 0.75 * 0.004**2 < mean["within"] < 1.25 * 0.004**2


def test_a_misfit_the_seeds_share_raises_the_critical_value():
    # with the misfit drawn as a (p, f) offset, the statistic at the law's G is no longer
    # χ²₁-small: the calibrated interval widens where χ²₁'s would narrow with the seeds
    runs = _runs(seed=7, noise=0.002, seeds=12, misfit=0.01)
    entry = calibrate_gap(runs, 1e5, draws=30, seed=0)
    assert entry["sigma_cell"] > 0.004 and entry["lack_of_fit_p"] < 0.05
    assert entry["coverage_chi2"] < 0.85 and entry["critical"] > 2 * CHI2_1_95


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


@pytest.mark.parametrize("text", ["{not json", "[]"] + [
    f'{{"version": {CALIBRATION_VERSION}, "sizes": [{{"N": 1e5, "points_sha": "x", "critical": {c}}}]}}'
    for c in ("null", "1.0", '"nan"')])
def test_a_corrupt_calibration_file_is_reported_and_left_alone(calibrated, tmp_path, text):
    runs, entry = calibrated
    path = calibration_path(tmp_path, "a", "b", "t")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    entries, note = read_gap_calibration(tmp_path, "a", "b", "t")
    assert entries == {} and "cannot be read" in note and "--write" in note
    (g,) = study_gap_fits(_study(runs), tmp_path)
    assert g.critical == CHI2_1_95 and "cannot be read" in g.note
    assert path.read_text() == text
    # writing a new calibration keeps the unreadable file beside it
    write_gap_calibration(tmp_path, "a", "b", "t", [entry])
    assert path.with_name(path.name + ".unreadable").read_text() == text
    assert read_gap_calibration(tmp_path, "a", "b", "t")[0].keys() == {1e5}


def test_a_size_with_planned_runs_still_to_come_is_provisional(calibrated):
    runs, _ = calibrated
    sd = _study(runs)
    sd.records = [{"config": {"kind": "finetune", "n_target": 100_000}, "result": {"n_params": 1e5}}]
    sd.unrecorded = [{"kind": "finetune", "n_target": 100_000, "seed": 9}]
    (g,) = study_gap_fits(sd)
    assert not g.complete
    sd.unrecorded = [{"kind": "finetune", "n_target": 6000, "seed": 9}, {"kind": "scratch", "n_target": 100_000}]
    (g,) = study_gap_fits(sd)
    assert g.complete


def test_a_study_without_a_calibration_says_how_to_make_one(calibrated, tmp_path):
    runs, _ = calibrated
    (g,) = study_gap_fits(_study(runs), tmp_path)
    assert g.critical == CHI2_1_95 and "gap_calibration.py --write" in g.note


REPO = Path(__file__).resolve().parents[1]
CALIBRATIONS = sorted((REPO / "results" / "calibration").glob("gap-*.json"))


@pytest.mark.skipif(not CALIBRATIONS, reason="no committed calibration")
@pytest.mark.parametrize("path", CALIBRATIONS, ids=lambda p: p.stem)
def test_every_committed_calibration_is_readable_and_matches_the_committed_runs(path):
    from transfer_laws.analysis import read_study
    from transfer_laws.gap import points_sha

    doc = json.loads(path.read_text())
    entries, problem = read_gap_calibration(REPO / "results", doc["source"], doc["target"], doc["profile"])
    assert entries and not problem, problem
    sd = read_study(doc["source"], doc["target"], doc["profile"], REPO / "results", str(REPO / "data"))
    points = gap_points(sd.runs)
    stale = [n for n, e in entries.items() if n not in points or e["points_sha"] != points_sha(points[n])]
    assert not stale, (f"{path.name}: the runs at N = {stale} changed since they were calibrated; rerun "
                       f"benchmarks/gap_calibration.py --source {doc['source']} --target {doc['target']} --write")
