import json

import numpy as np
import pandas as pd
import pytest

from transfer_laws.cli import main
from transfer_laws.errors import InputError
from transfer_laws.laws import (fit_barnett, fit_curve, fit_dt_space, fit_hernandez, multiplier,
                                optimal_allocation, predict_dt)
from transfer_laws.synthetic import barnett_runs, hernandez_runs

TRUE_H = {"k": 30.0, "alpha": 0.35, "beta": 0.4}
TRUE_B = {"A": 8.0, "alpha": 0.3, "G": 0.8, "beta": 0.1, "E": 1.0}


def test_paper_table1_numbers():
    N = 1.75e11
    text = pd.Series({"k": 1.9e4, "alpha": 0.18, "beta": 0.38})
    code = pd.Series({"k": 2.1e5, "alpha": 0.096, "beta": 0.38})
    assert predict_dt(text, 1, N) == pytest.approx(3.6e8, rel=0.02)
    assert predict_dt(code, 1, N) == pytest.approx(3.9e9, rel=0.02)
    assert predict_dt(text, 300, N) / predict_dt(text, 1, N) == pytest.approx(2.8, rel=0.01)
    assert predict_dt(code, 300, N) / predict_dt(code, 1, N) == pytest.approx(1.7, rel=0.03)
    assert multiplier(300, N, **text) == pytest.approx(1 + predict_dt(text, 300, N) / 300)


def test_scratch_curve_inverts_exactly():
    D = np.geomspace(1e3, 1e8, 8)
    c = fit_curve(D, 2.0 + 50 * D ** -0.3, 1e5)
    assert c.method == "power_law" and c.b == pytest.approx(0.3, rel=1e-3)
    D_E, extrap = c.effective_data([c.loss(3e5), c.loss(1e10), 1.9])
    assert D_E[0] == pytest.approx(3e5, rel=1e-3)
    assert extrap.tolist() == [False, True, True] and np.isinf(D_E[2])


def test_dt_space_view_recovers_constants_at_low_noise():
    fit = fit_dt_space(hernandez_runs(**TRUE_H, seed=1), n_boot=200)
    assert fit.params["alpha"] == pytest.approx(TRUE_H["alpha"], abs=0.03)
    assert fit.params["beta"] == pytest.approx(TRUE_H["beta"], abs=0.03)
    assert fit.params["k"] == pytest.approx(TRUE_H["k"], rel=0.3)
    ci = fit.conf_int()
    assert (ci[0] < fit.params).all() and (fit.params < ci[1]).all()
    assert set(fit.info["dropped"]) == {"censored", "finite", "positive", "low_data", "resolvable",
                                           "extrapolated"}


def test_hernandez_fits_at_one_pretraining_size():
    """A study's export also holds a transfer-gap grid of p at one size; the law holds p
    fixed, so those runs are left out (and counted), not mixed in."""
    runs = hernandez_runs(**TRUE_H, seed=1)
    grid = runs[(runs["kind"] == "finetune") & (runs["n_params"] == 3e4)].assign(
        pretrain_tokens=1e6, loss=lambda d: d["loss"] + 0.5)  # a weaker pre-training: far less transfer
    both = pd.concat([runs, grid], ignore_index=True)
    alone, mixed = (fit_hernandez(r, n_boot=0, profile=False) for r in (runs, both))
    pd.testing.assert_series_equal(alone.params, mixed.params)
    assert mixed.info["pretrain_tokens"] == 1e9 and mixed.info["left out"]["other_p"] == len(grid)
    with pytest.raises(InputError, match="pretrain_tokens = 5"):
        fit_hernandez(both, pretrain_tokens=5)


def test_drop_reasons_name_the_rule_that_left_each_point_out():
    from transfer_laws.laws import effective_data, fit_curves
    from transfer_laws.laws.hernandez import Selection, drop_reasons, select_points

    runs = hernandez_runs(seed=4)
    ed = effective_data(runs, fit_curves(runs))
    ed.loc[0, "D_E"] = np.nan  # fails "finite" first, whatever else it fails
    sel = Selection(min_ratio=float((ed["D_T"] / ed["D_F"]).median()))
    reasons = drop_reasons(ed, sel)
    kept, dropped = select_points(ed, sel)
    assert reasons[0] == "finite" and dropped["finite"] == 1 and dropped["resolvable"] > 0
    assert (reasons == "").sum() == len(kept) > 0
    assert {r: int((reasons == r).sum()) for r in dropped} == dropped


def test_barnett_recovers_constants():
    fit = fit_barnett(barnett_runs(TRUE_B, seed=2), n_boot=30)
    assert fit.params["G"] == pytest.approx(TRUE_B["G"], rel=0.1)
    assert fit.params["E"] == pytest.approx(TRUE_B["E"], rel=0.1)
    assert fit.params["beta"] == pytest.approx(TRUE_B["beta"], abs=0.02)
    assert fit.params["alpha"] == pytest.approx(TRUE_B["alpha"], abs=0.06)
    L = barnett_runs(TRUE_B, noise=0.0)
    assert np.allclose(fit.predict(L["pretrain_tokens"], L["tokens"]), L["loss"], rtol=0.01)


def test_barnett_profile_intervals_cover_the_true_constants():
    hits = []
    for seed in range(8):
        fit = fit_barnett(barnett_runs(TRUE_B, seed=300 + seed), n_boot=0, profile=True)
        ci = fit.conf_int(method="profile")
        assert 0 < ci.loc["G", 0] < fit.params["G"] < ci.loc["G", 1] < np.inf  # a wide p grid bounds G
        hits += [ci.loc[k, 0] <= TRUE_B[k] <= ci.loc[k, 1] for k in ("alpha", "G", "beta")]
    assert np.mean(hits) >= 0.8  # nominal 0.95; 24 draws leave room for sampling error


def test_a_narrow_p_grid_leaves_the_transfer_gap_unbounded():
    """Like our runs: p over 1.2 decades, far from saturating the loss. G trades off
    against A and alpha, and the profile interval says so instead of a narrow range."""
    narrow = barnett_runs({"A": 20.0, "alpha": 0.05, "G": 1.0, "beta": 0.07, "E": 0.0},
                          p_grid=np.geomspace(2.6e5, 4.2e6, 4), f_grid=np.geomspace(4e3, 2.6e5, 4), noise=0.02, seed=1)
    fit = fit_barnett(narrow, n_boot=0, profile=True)
    ci = fit.conf_int(method="profile")
    assert ci.loc["G", 0] == 0.0  # not bounded below
    out = json.loads(json.dumps(fit.to_dict()))
    assert out["interval"] == "profile"
    assert out["params"]["G"]["ci95"][0] is None and out["params"]["G"]["ci95"][1] > 0
    with pytest.raises(ValueError, match="profile=True"):
        fit_barnett(narrow, n_boot=0).conf_int(method="profile")
    assert fit_barnett(narrow, n_boot=0).reported == "bootstrap"


def test_allocation_moves_to_the_cheaper_data():
    fit = fit_barnett(barnett_runs(TRUE_B, noise=0.0), n_boot=0)
    cheap_pre = optimal_allocation(fit, 1e8, price_pretrain=1.0, price_finetune=100.0)
    cheap_ft = optimal_allocation(fit, 1e8, price_pretrain=100.0, price_finetune=1.0)
    ratio = lambda a: a.pretrain_tokens / a.finetune_tokens  # noqa: E731
    assert ratio(cheap_pre) > 100 * ratio(cheap_ft)
    assert cheap_pre.pretrain_tokens + 100 * cheap_pre.finetune_tokens == pytest.approx(1e8)
    for s in (0.5 * cheap_pre.share_pretrain, min(0.999, 1.5 * cheap_pre.share_pretrain)):
        p, f = s * 1e8, (1 - s) * 1e8 / 100
        assert fit.predict(np.array([p]), np.array([f]))[0] >= cheap_pre.loss - 1e-9


def _write(df, tmp_path, name="runs.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return str(path)


def test_fit_cli_json(tmp_path, capsys):
    path = _write(hernandez_runs(seed=3), tmp_path)
    assert main(["fit", "hernandez", "--runs", path, "--json", "--bootstrap", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["params"]) == {"k", "alpha", "beta"} and out["interval"] == "profile"
    assert len(out["params"]["alpha"]["ci95"]) == 2 and out["left out"] == {"other_p": 0, "other_source": 0}
    path = _write(barnett_runs(seed=3), tmp_path, "b.csv")
    assert main(["fit", "barnett", "--runs", path, "--json", "--bootstrap", "10"]) == 0
    assert set(json.loads(capsys.readouterr().out)["params"]) == {"A", "alpha", "G", "beta", "E"}


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns=["loss"]), "missing column"),
    (lambda d: d.assign(tokens=d["tokens"].where(d.index != 3, -5)), "positive number"),
    (lambda d: d.assign(stopped="maybe"), "unknown stopped"),
    (lambda d: d[d["kind"] == "scratch"], "no finetune runs"),
    (lambda d: d[(d["kind"] == "scratch") | (d["n_params"] == 1e4)], "at least 2 model sizes"),
    (lambda d: d[~((d["kind"] == "scratch") & (d["n_params"] == 1e4) & (d["tokens"] > 1.1e3))], "at least 3"),
    (lambda d: d.assign(source=np.where(d["n_params"] == 1e4, "other", "src")), "choose one"),
])
def test_bad_input_gets_a_clear_error_and_exit_2(tmp_path, capsys, mutate, message):
    path = _write(mutate(hernandez_runs(seed=4)), tmp_path)
    with pytest.raises(InputError, match=message):
        fit_hernandez(path, n_boot=0)
    assert main(["fit", "hernandez", "--runs", path]) == 2
    assert "error:" in capsys.readouterr().err


def test_missing_runs_file(capsys):
    assert main(["fit", "barnett", "--runs", "/nonexistent/runs.csv"]) == 2
    assert "runs export" in capsys.readouterr().err


def test_compare_laws_prefers_the_generating_form():
    from transfer_laws.laws import compare_laws

    table = compare_laws(barnett_runs(TRUE_B, seed=5))
    assert table.iloc[0]["law"] == "barnett"
    assert set(table["law"]) == {"barnett", "no_gap", "additive"}
    assert (table["loo_rmse_log_loss"] >= table["rmse_log_loss"] * 0.5).all()
