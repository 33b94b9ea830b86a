"""The estimators of issue 12: the joint from-scratch law, the loss-space Hernandez fit,
the noise model from seed replicates, censoring, two-source comparisons. Synthetic runs
mirror the planned `cpu` design (5 sizes, ×2 grids, 3 seeds, measured noise); the
benchmark (benchmarks/fitting.py) runs the same checks over 100+ draws."""

import json

import numpy as np
import pandas as pd
import pytest

from transfer_laws.cli import main
from transfer_laws.errors import InputError
from transfer_laws.laws import compare_sources, estimate_noise, fit_hernandez, fit_scratch_law, read_runs
from transfer_laws.laws.hernandez_loss import curve_loss
from transfer_laws.laws.runs_table import one_sided
from transfer_laws.synthetic import Design, Noise, Truth, chinchilla_runs, design_runs

TRUE_C = {"E": 1.8, "A": 400.0, "B": 400.0, "alpha": 0.34, "beta": 0.28}
TRUTH = Truth()


def _write(df, tmp_path, name="runs.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return str(path)


# --- the joint from-scratch law ----------------------------------------------------------
def test_fit_scratch_recovers_chinchilla_constants():
    fit = fit_scratch_law(chinchilla_runs(TRUE_C, noise=0.005, seed=1), n_boot=60)
    for k in ("alpha", "beta"):
        assert fit.params[k] == pytest.approx(TRUE_C[k], abs=0.02)
    for k in ("E", "A", "B"):
        assert fit.params[k] == pytest.approx(TRUE_C[k], rel=0.15)
    ci = fit.conf_int()
    assert ((ci[0] <= fit.params) & (fit.params <= ci[1])).all()
    assert (ci[1] - ci[0] > 0).all()


def test_fit_scratch_kaplan_form_fits_kaplan_data():
    N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e4, 1e7, 6), np.geomspace(1e5, 1e9, 8)))
    L = ((1e10 / N) ** (0.08 / 0.1) + 1e8 / D) ** 0.1
    runs = pd.DataFrame({"kind": "scratch", "n_params": N, "tokens": D, "pretrain_tokens": np.nan, "loss": L})
    fit = fit_scratch_law(runs, form="kaplan", n_boot=0)
    assert fit.info["rmse_log_loss"] < 1e-3
    assert fit.params["alpha_D"] == pytest.approx(0.1, abs=0.01)
    assert fit.params["alpha_N"] == pytest.approx(0.08, abs=0.01)


def test_fit_scratch_cli_json(tmp_path, capsys):
    path = _write(chinchilla_runs(seed=2), tmp_path)
    assert main(["fit", "scratch", "--runs", path, "--json", "--bootstrap", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert all(len(v["ci95"]) == 2 and v["ci95"][0] <= v["estimate"] <= v["ci95"][1] for v in out["params"].values())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns=["tokens"]), "missing column"),
    (lambda d: d.assign(loss=d["loss"].where(d.index != 2, np.nan)), "positive number"),
    (lambda d: d.assign(kind="finetune", pretrain_tokens=1e6), "no scratch runs"),
    (lambda d: d[d["n_params"] == d["n_params"].min()], "2 or more model sizes"),
    (lambda d: d.assign(stopped="budget"), "converged runs"),
    (lambda d: d[d["n_params"].isin(d["n_params"].unique()[:2]) & d["tokens"].isin(d["tokens"].unique()[:2])],
     "add runs"),
])
def test_fit_scratch_bad_input_exits_2(tmp_path, capsys, mutate, message):
    path = _write(mutate(chinchilla_runs(seed=3)), tmp_path)
    with pytest.raises(InputError, match=message):
        fit_scratch_law(path, n_boot=0)
    assert main(["fit", "scratch", "--runs", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_fit_cli_usage_errors_exit_2(tmp_path, capsys):
    path = _write(chinchilla_runs(seed=3), tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["fit", "scratch", "--runs", path, "--form", "cubic"])
    assert e.value.code == 2
    assert main(["fit", "scratch", "--runs", str(tmp_path / "missing.csv")]) == 2
    assert main(["fit", "compare", "--runs", path]) == 2
    assert "two sources" in capsys.readouterr().err


# --- the runs table and censoring -------------------------------------------------------
def test_stopped_column_is_optional_and_checked():
    runs = design_runs(seed=0).drop(columns=["stopped"])
    assert (read_runs(runs)["stopped"] == "early_stop").all()
    with pytest.raises(InputError, match="unknown stopped"):
        read_runs(runs.assign(stopped="out_of_time"))


def test_one_sided_counts_a_censored_run_only_when_the_fit_is_above_it():
    r = np.array([-0.1, 0.2, -0.1, 0.2])
    assert one_sided(r, np.array([False, False, True, True])).tolist() == [-0.1, 0.2, 0.0, 0.2]


# --- noise from seed replicates -------------------------------------------------------------
def test_noise_model_recovers_run_and_cluster_noise():
    design = Design(seeds=tuple(range(8)))
    noise = Noise(run=0.03, small=0.03, cluster=0.04, cluster_scratch=0.0)
    model = estimate_noise(read_runs(design_runs(design=design, noise=noise, seed=5)))
    sd = model.sd(np.array(["finetune", "scratch"]), np.array([5.7e4, 5.7e4]), np.array([16384.0, 65536.0]))
    assert sd == pytest.approx([0.03, 0.03], rel=0.25)
    assert model.cluster_sd("finetune") == pytest.approx(0.04, abs=0.015)
    assert model.cluster_sd("scratch") < 0.015


# --- the Hernandez law in loss space ----------------------------------------------------------
def test_loss_space_fit_recovers_the_law_and_its_intervals_cover():
    """Draws on the planned cpu design at the measured noise. The benchmark runs 100+;
    a few here check the intervals are neither absurdly narrow nor biased."""
    missed, errors = 0, {k: [] for k in ("alpha", "beta")}
    for draw in range(6):
        fit = fit_hernandez(design_runs(TRUTH, seed=500 + draw), n_boot=0)
        ci = fit.conf_int()
        missed += not all(ci.loc[k, 0] <= getattr(TRUTH, k) <= ci.loc[k, 1] for k in ("k", "alpha", "beta"))
        for k in errors:
            errors[k].append(fit.params[k] - getattr(TRUTH, k))
        assert 0.02 < ci.loc["alpha", 1] - ci.loc["alpha", 0] < 0.2
        assert 0.03 < ci.loc["beta", 1] - ci.loc["beta", 0] < 0.3
    # Draws, not intervals, are the independent units (k, α, β miss together). About 1
    # draw in 10 misses one of them when calibrated (benchmarks/README.md), so 3 or more
    # of 6 happen by chance with probability 0.016.
    assert missed <= 2
    assert abs(np.mean(errors["alpha"])) < 0.02 and abs(np.mean(errors["beta"])) < 0.04


def test_loss_space_fit_uses_every_run_and_no_transfer_pulls_k_down():
    runs = design_runs(TRUTH, seed=7)
    small = (runs["kind"] == "finetune") & (runs["n_params"] == runs["n_params"].min())
    no_transfer = runs.copy()  # the smallest size's fine-tunes no better than from scratch
    no_transfer.loc[small, "loss"] = TRUTH.scratch(runs.loc[small, "n_params"], runs.loc[small, "tokens"]) + 0.01
    base, worse = (fit_hernandez(r, n_boot=0, profile=False) for r in (runs, no_transfer))
    assert worse.info["n_finetune"] == base.info["n_finetune"] == int((runs["kind"] == "finetune").sum())
    n = runs["n_params"].min()
    assert predict(worse, n) < 0.5 * predict(base, n)


@pytest.mark.parametrize("scratch_form, recovers", [("spline", True), ("power_law", False)])
def test_a_kink_in_the_from_scratch_curves_does_not_bias_the_transfer_law(scratch_form, recovers):
    """A kink at D = 131k (benchmarks/fitting.py's misspecified case) at a tenth of the
    measured noise, where bias shows plainly: the per-size power law bends through the kink,
    is 0.01 nats too high where the largest fine-tunes' effective data lie, and its
    intervals miss α and k (its lack of fit inflates them, not enough: a scale factor
    widens, it does not remove a bias); the spline through each size's runs follows it."""
    truth = Truth(kink_tokens=131072, kink_slope=0.05)
    quiet = Noise(run=0.003, small=0.003, eval=0.0, cluster=0.003, cluster_scratch=0.001)
    for draw in range(2):
        fit = fit_hernandez(design_runs(truth, noise=quiet, seed=77 + draw), n_boot=0, scratch_form=scratch_form)
        ci = fit.conf_int()
        covered = all(ci.loc[k, 0] <= getattr(truth, k) <= ci.loc[k, 1] for k in ("k", "alpha"))
        assert covered == recovers
        assert (abs(fit.params["alpha"] - truth.alpha) < 0.005) == recovers


def test_the_hernandez_fit_uses_a_spline_through_each_sizes_grid_by_default():
    fit = fit_hernandez(design_runs(TRUTH, seed=4), n_boot=0, profile=False)
    assert fit.info["scratch_form"] == "spline"
    for n, c in fit.info["scratch_curves"].items():
        assert c["D"] == pytest.approx(Design().scratch_tokens)
        assert np.abs(curve_loss(c, c["D"]) - TRUTH.scratch(n, c["D"])).max() < 0.1


def predict(fit, n, D_F=8192.0):
    return fit.params["k"] * D_F ** fit.params["alpha"] * n ** fit.params["beta"]


def test_censored_runs_bound_the_fit_from_above_and_are_not_measurements():
    """Runs at D ≥ 262k ran out of budget 0.1 nats above their converged loss. One-sided,
    they leave the fit where the uncensored runs put it; as measurements they would not."""
    runs = design_runs(TRUTH, seed=11, budget_tokens=262144, budget_gap=0.1)
    fit = fit_hernandez(runs, n_boot=0)
    assert fit.info["n_censored"] == int((runs["stopped"] == "budget").sum()) > 0
    as_measured = fit_hernandez(runs.assign(stopped="early_stop"), n_boot=0, profile=False)
    for n, c in fit.info["scratch_curves"].items():
        assert curve_loss(c, 524288.0) <= TRUTH.scratch(n, 524288.0) + 0.1
    ci = fit.conf_int()
    assert ci.loc["beta", 0] <= TRUTH.beta <= ci.loc["beta", 1]
    assert abs(fit.params["beta"] - TRUTH.beta) < abs(as_measured.params["beta"] - TRUTH.beta) + 0.02


def test_seed_cluster_bootstrap_is_reported_beside_the_profile_interval(tmp_path, capsys):
    path = _write(design_runs(TRUTH, seed=3), tmp_path)
    assert main(["fit", "hernandez", "--runs", path, "--json", "--bootstrap", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["interval"] == "profile" and out["bootstrap"] == "cluster (whole seeds)"
    for v in out["params"].values():
        assert v["ci95"][0] < v["estimate"] < v["ci95"][1] and len(v["ci95_bootstrap"]) == 2
    assert out["seeds"] == 3 and out["noise"]["source"] == "seed replicates"


def test_two_sources_are_compared_through_the_interval_of_their_difference(tmp_path, capsys):
    a = design_runs(TRUTH, seed=21, source="A")
    b = design_runs(Truth(alpha=0.35, k=20.0), seed=22, source="B")
    both = pd.concat([a, b[b["kind"] == "finetune"]], ignore_index=True)
    diff = compare_sources(both, "A", "B", n_boot=20)
    ci = diff.conf_int()
    assert ci.loc["alpha_diff", 1] < 0  # A's α is smaller, and the interval says so
    assert ci.loc["alpha_diff", 0] <= TRUTH.alpha - 0.35 <= ci.loc["alpha_diff", 1]
    assert ci.loc["beta_diff", 0] <= 0 <= ci.loc["beta_diff", 1]  # same β: can't tell them apart
    assert diff.bootstrap is not None and set(diff.bootstrap.columns) == {"alpha_diff", "beta_diff", "log_k_diff"}
    path = _write(both, tmp_path)
    assert main(["fit", "hernandez", "--runs", path]) == 2  # two sources: choose one
    assert main(["fit", "compare", "--runs", path, "--sources", "A", "B", "--json", "--bootstrap", "0"]) == 0
    capsys.readouterr()


def test_book_fits_are_cached_per_study(tmp_path):
    from transfer_laws.analysis import cached_fit

    calls = []

    def fit(table, **options):
        calls.append(options)
        return {"n": len(table)}

    runs = design_runs(seed=1)
    assert cached_fit(tmp_path, "h", runs, fit, n_boot=5) == {"n": len(runs)}
    assert cached_fit(tmp_path, "h", runs, fit, n_boot=5) == {"n": len(runs)}
    assert len(calls) == 1
    cached_fit(tmp_path, "h", runs.assign(loss=runs["loss"] + 0.01), fit, n_boot=5)
    assert len(calls) == 2


def test_fits_survive_the_book_cache(tmp_path):
    from transfer_laws.analysis import cached_fit
    from transfer_laws.laws import fit_barnett
    from transfer_laws.synthetic import barnett_runs

    runs = design_runs(seed=2)
    first = cached_fit(tmp_path, "hernandez", runs, fit_hernandez, n_boot=0, profile=False)
    assert list((tmp_path / "fits").glob("hernandez-*.pkl")), "the fit was not stored"
    again = cached_fit(tmp_path, "hernandez", runs, fit_hernandez, n_boot=0, profile=False)
    pd.testing.assert_series_equal(first.params, again.params)
    assert again.predict(8192.0, 1e5) == pytest.approx(first.predict(8192.0, 1e5))
    for fit in (fit_scratch_law(chinchilla_runs(), n_boot=0), fit_barnett(barnett_runs(), n_boot=0)):
        cached = cached_fit(tmp_path, fit.law, pd.DataFrame({"x": [1]}), lambda t, f=fit: f)
        assert np.allclose(cached.predict(np.array([1e5]), np.array([1e6])), fit.predict(np.array([1e5]), np.array([1e6])))


def test_the_synthetic_design_is_the_committed_cpu_profile():
    from transfer_laws.synthetic import Design

    assert Design.from_profile("cpu") == Design()


# --- which from-scratch form ----------------------------------------------------------------
def _scratch_table(loss, seed=3):
    """From-scratch runs on the committed design with loss(N, D) and the synthetic noise."""
    runs = design_runs(TRUTH, seed=seed)
    runs = runs[runs["kind"] == "scratch"].reset_index(drop=True)
    noise = runs["loss"] - TRUTH.scratch(runs["n_params"], runs["tokens"])
    return runs.assign(loss=loss(runs["n_params"].to_numpy(), runs["tokens"].to_numpy()) + noise)


def test_the_from_scratch_form_is_chosen_by_held_out_error_inside_the_grid():
    from transfer_laws.laws.scratch_law import SEED_NOISE, choose_scratch_form, compare_scratch_forms

    power = compare_scratch_forms(_scratch_table(TRUTH.scratch))
    assert list(power["form"]) == ["power_law", "spline", "chinchilla", "kaplan", SEED_NOISE]
    assert choose_scratch_form(power) == "power_law"
    noise_row = power.set_index("form").loc[SEED_NOISE]
    assert 0.02 < noise_row["held-out D, inside the grid"] < 0.06  # the synthetic noise, in nats
    assert power.set_index("form").loc[["power_law", "spline"], "held-out largest N"].isna().all()

    # like the python records: flat while a model learns unigram statistics, then a steady
    # fall per doubling of D; no per-size power law is convex in log D there
    def plateau(N, D):
        return 6.5 - 0.35 * np.logaddexp(0.0, np.log2(D) - 13.0) - 0.05 * np.log(N / 6592.0)

    assert choose_scratch_form(compare_scratch_forms(_scratch_table(plateau))) == "spline"


def test_bootstrap_leaves_out_resamples_of_a_half_trained_seed_instead_of_failing_the_fit():
    """While seed 2 is still training, a resample that draws it three times lacks the
    largest size's from-scratch curve: that resample is counted, the fit still stands."""
    runs = design_runs(TRUTH, seed=4)
    largest = runs["n_params"].max()
    half = (runs["seed"] == 2) & (runs["n_params"] == largest)
    fit = fit_hernandez(runs[~half], n_boot=60, profile=False)
    assert fit.info["bootstrap_failed"] > 0
    assert np.isfinite(fit.params["alpha"]) and np.isfinite(fit.params["beta"])
