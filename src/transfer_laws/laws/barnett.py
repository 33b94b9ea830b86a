"""Transfer-gap laws in pre-training data p and fine-tuning data f (Barnett 2024).

The registered form ``barnett`` is

    L(p, f) = (A · p^(−α) + G) · f^(−β) + E

This is our best reading of the paper's law; it has NOT been checked against the
paper's text, which is why it is one named form among several. G, the transfer
gap, is the part of the fine-tuning-limited loss that no amount of pre-training
removes: small G means pre-training substitutes for target data cheaply, large G
means target data is the better buy.

Every form is fitted the same way (Epoch AI's Chinchilla replication): Huber loss
on log-loss residuals, a grid of starting points, L-BFGS-B on log-parameters, and
percentile bootstrap intervals that resample runs. Forms are compared on AICc and
on leave-one-out error (``compare_laws``); ``additive`` is the named alternative
A·p^−α + B·f^−β + E.

G is identifiable only if the effect of p flattens: ``curvature_test`` tests, at each f,
for curvature of the loss in ln p (a positive coefficient on (ln p)²), and pooled over f;
``fit_barnett`` reports it beside the fit. The law has no N term, so at small N the
fitted G includes that size's capacity limit: ``fit_gap_per_size`` fits and reports it
per model size.

The bootstrap refits each resample from the full-data optimum, so where the data do
not pin a parameter down (G, when no p comes near saturating the target loss, trades
off against A and α along a flat valley) its percentiles only show the width of that
basin. ``conf_int(method="profile")`` gives profile-likelihood intervals instead: a
value is inside when the best fit with that parameter held fixed is not significantly
worse than the best fit. An end the data do not bound is reported as 0 or infinity.
G is profiled on a grid scaled to the data (``gap_grid``: 1e-3·min L to 10·max L), not
relative to the estimate, each point fitted from the full-data optimum and from both
neighbours (sweeps up and down the grid, so the profile's ends get their own starts).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.optimize import minimize

from ..errors import InputError
from .results import FitResults, single_threaded
from .runs_table import read_runs


@dataclass(frozen=True)
class LawForm:
    name: str
    params: tuple[str, ...]
    fn: Callable[[dict, np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[dict, np.ndarray, np.ndarray], np.ndarray]  # d fn / d log-params, (n, k)
    starts: dict[str, tuple[float, ...]]  # grid of starting values per parameter
    doc: str


def _barnett(p, P, F):
    return (p["A"] * P ** (-p["alpha"]) + p["G"]) * F ** (-p["beta"]) + p["E"]


def _barnett_grad(p, P, F):
    a = p["A"] * P ** (-p["alpha"])
    ff = F ** (-p["beta"])
    return np.column_stack([a * ff, -p["alpha"] * np.log(P) * a * ff, p["G"] * ff,
                            -p["beta"] * np.log(F) * (a + p["G"]) * ff, np.full_like(P, p["E"])])


def _no_gap_grad(p, P, F):
    t = p["A"] * P ** (-p["alpha"]) * F ** (-p["beta"])
    return np.column_stack([t, -p["alpha"] * np.log(P) * t, -p["beta"] * np.log(F) * t, np.full_like(P, p["E"])])


def _additive_grad(p, P, F):
    a = p["A"] * P ** (-p["alpha"])
    b = p["B"] * F ** (-p["beta"])
    return np.column_stack([a, -p["alpha"] * np.log(P) * a, b, -p["beta"] * np.log(F) * b, np.full_like(P, p["E"])])


def _no_gap(p, P, F):
    return p["A"] * P ** (-p["alpha"]) * F ** (-p["beta"]) + p["E"]


def _additive(p, P, F):
    return p["A"] * P ** (-p["alpha"]) + p["B"] * F ** (-p["beta"]) + p["E"]


LAWS: dict[str, LawForm] = {
    "barnett": LawForm("barnett", ("A", "alpha", "G", "beta", "E"), _barnett, _barnett_grad,
                       {"A": (1.0, 30.0), "alpha": (0.1, 0.5), "G": (0.1, 3.0), "beta": (0.05, 0.3), "E": (0.5, 2.0)},
                       "(A·p^−α + G)·f^−β + E — our reading of Barnett (2024), unconfirmed"),
    "no_gap": LawForm("no_gap", ("A", "alpha", "beta", "E"), _no_gap, _no_gap_grad,
                      {"A": (1.0, 30.0), "alpha": (0.05, 0.3), "beta": (0.05, 0.3), "E": (0.5, 2.0)},
                      "A·p^−α·f^−β + E — the same law with G = 0"),
    "additive": LawForm("additive", ("A", "alpha", "B", "beta", "E"), _additive, _additive_grad,
                        {"A": (1.0, 30.0), "alpha": (0.1, 0.5), "B": (1.0, 30.0), "beta": (0.1, 0.5), "E": (0.5, 2.0)},
                        "A·p^−α + B·f^−β + E — independent data terms (Chinchilla-like)"),
}

HUBER_DELTA = 1e-3


def predict_law(law: str, params, P, F) -> np.ndarray:
    """The loss a registered form predicts at pre-training p and fine-tuning f."""
    return LAWS[law].fn(params, np.asarray(P, float), np.asarray(F, float))


def _huber(r: np.ndarray, delta: float = HUBER_DELTA) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def _objective(x, form: LawForm, P, F, L):
    """Huber loss of log-loss residuals and its exact gradient in log-parameters."""
    p = dict(zip(form.params, np.exp(x)))
    with np.errstate(all="ignore"):
        pred = form.fn(p, P, F)
        r = np.log(pred) - np.log(L)
        if not np.all(np.isfinite(r)):
            return 1e6, np.zeros_like(x)
        psi = np.clip(r, -HUBER_DELTA, HUBER_DELTA)
        g = (psi / pred) @ form.grad(p, P, F)
    if not np.all(np.isfinite(g)):
        return 1e6, np.zeros_like(x)
    return float(np.sum(_huber(r))), g


def _starts(form: LawForm, L: np.ndarray, limit: int | None = None) -> list[np.ndarray]:
    grids = []
    for name in form.params:
        vals = form.starts[name]
        if name == "E":
            vals = tuple(v * L.min() / 2 for v in vals)  # scale E to the data
        grids.append(np.log(vals))
    mesh = np.array(np.meshgrid(*grids)).reshape(len(grids), -1).T
    return list(mesh[:limit] if limit else mesh)


def _fit_once(form: LawForm, P, F, L, starts) -> tuple[np.ndarray, float]:
    best_x, best_f = None, np.inf
    for x0 in starts:
        r = minimize(_objective, x0, args=(form, P, F, L), method="L-BFGS-B", jac=True,
                     bounds=[(-30, 30)] * len(x0), options={"maxiter": 2000})
        if r.fun < best_f:
            best_x, best_f = r.x, r.fun
    return best_x, best_f


def _prepare(runs) -> pd.DataFrame:
    df = read_runs(runs)
    ft = df[df["kind"] == "finetune"]
    if ft.empty:
        raise InputError("the runs table has no finetune runs; the transfer-gap law is fitted on fine-tuned runs.")
    return ft


# Huber with delta = 1e-3 on log-loss residuals of a few 1e-2 works in its linear part,
# i.e. as least absolute deviations (median regression). Its likelihood-ratio test
# (Koenker & Bassett 1982) bounds the rise of the summed absolute residual S:
# 4 (S_fixed - S_best) / s < chi2(1, 0.95), where s = 1 / f(0) is the residuals'
# sparsity. We estimate s as for normal errors, sqrt(2 pi) times the residual standard
# deviation (corrected for the fitted parameters): for heavier-tailed errors that is
# conservative.
CHI2_1_95 = 3.841
PROFILE_STEP = np.log(10) / 4  # a quarter of a decade
PROFILE_DECADES = 3.0  # how far from the estimate each side is searched


def _log_residuals(form: LawForm, x, P, F, L) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.log(form.fn(dict(zip(form.params, np.exp(x))), P, F)) - np.log(L)


def _abs_dev(form: LawForm, x, P, F, L) -> float:
    return float(np.sum(np.abs(_log_residuals(form, x, P, F, L))))


def lr_scale(form: LawForm, P, F, L, x_hat: np.ndarray) -> float:
    """s/4 = √(2π)·σ/4: a rise of the summed absolute log-residual S divided by this is
    on the χ²₁ scale (σ: the residual standard deviation, corrected for the constants)."""
    resid = _log_residuals(form, x_hat, P, F, L)
    sigma = float(np.sqrt(np.sum(resid**2) / max(len(L) - len(x_hat), 1)))
    return np.sqrt(2 * np.pi) * sigma / 4


def _profile_limit(form: LawForm, P, F, L, x_hat: np.ndarray, critical: float = CHI2_1_95) -> tuple[float, float]:
    """(S at the estimate, the largest S a profile point may have and stay inside: the
    statistic's ``critical`` value, χ²₁'s 95th percentile unless calibrated otherwise)."""
    s_hat = _abs_dev(form, x_hat, P, F, L)
    return s_hat, s_hat + critical * lr_scale(form, P, F, L, x_hat)


def _fit_fixed(form: LawForm, P, F, L, j: int, v: float, x0: np.ndarray) -> tuple[np.ndarray, float]:
    """The best fit with log-parameter j held at v, from x0: (x, summed absolute deviation)."""
    bounds = [(-30, 30)] * len(x0)
    bounds[j] = (v, v)
    x0 = x0.copy()
    x0[j] = v
    r = minimize(_objective, x0, args=(form, P, F, L), method="L-BFGS-B", jac=True, bounds=bounds,
                 options={"maxiter": 2000})
    return r.x, _abs_dev(form, r.x, P, F, L)


def _profile_interval(form: LawForm, P, F, L, x_hat: np.ndarray, j: int) -> tuple[float, float, pd.DataFrame]:
    """The 95% profile-likelihood interval of parameter j, walked outwards from the
    estimate a quarter-decade at a time, each step warm-started from the last, and the
    crossing then found by bisection. An end not crossed within PROFILE_DECADES is 0 or
    infinity; the profile's first and last values say how far the search went."""
    s_hat, limit = _profile_limit(form, P, F, L, x_hat)
    rows = [{"value": float(np.exp(x_hat[j])), "abs_dev": s_hat}]

    def fixed(v: float, x0: np.ndarray) -> tuple[np.ndarray, float]:
        x, s = _fit_fixed(form, P, F, L, j, v, x0)
        rows.append({"value": float(np.exp(v)), "abs_dev": s})
        return x, s

    ends = []
    steps = int(round(PROFILE_DECADES * np.log(10) / PROFILE_STEP))
    for direction in (-1, 1):
        x_in, v_in, end = x_hat, x_hat[j], None
        for i in range(1, steps + 1):
            v = x_hat[j] + direction * i * PROFILE_STEP
            x, s = fixed(v, x_in)
            if s > limit:
                v_out = v
                for _ in range(8):  # bisect to 1/1000 of a decade
                    mid = (v_in + v_out) / 2
                    x_mid, s_mid = fixed(mid, x_in)
                    if s_mid > limit:
                        v_out = mid
                    else:
                        v_in, x_in = mid, x_mid
                end = float(np.exp((v_in + v_out) / 2))
                break
            x_in, v_in = x, v
        ends.append(end if end is not None else (0.0 if direction < 0 else np.inf))
    profile = pd.DataFrame(rows).sort_values("value").reset_index(drop=True)
    return ends[0], ends[1], profile


GAP_GRID_POINTS = 17


def gap_grid(L: np.ndarray) -> np.ndarray:
    """Values of G to profile over, from the data's loss scale: 1e-3·min L to 10·max L."""
    return np.geomspace(1e-3 * L.min(), 10 * L.max(), GAP_GRID_POINTS)


def _profile_on_grid(form: LawForm, P, F, L, x_hat: np.ndarray, j: int,
                     grid: np.ndarray, critical: float = CHI2_1_95) -> tuple[float, float, pd.DataFrame]:
    """The 95% profile interval of parameter j over a fixed grid. Every grid value is
    fitted from the full-data optimum and from its neighbour's solution in a sweep up and
    a sweep down the grid; the lowest summed absolute deviation is its profile. The
    interval is the run of values around the estimate that stay under the limit, each end
    bisected between its last inside and first outside value; a run reaching an end of
    the grid is open there (0 or inf). ``critical``: the statistic's value at an end."""
    s_hat, limit = _profile_limit(form, P, F, L, x_hat, critical)
    v_hat = float(x_hat[j])
    logs = np.sort(np.r_[np.log(grid), v_hat])
    best = np.full(len(logs), np.inf)
    sols = [x_hat] * len(logs)
    best[np.searchsorted(logs, v_hat)] = s_hat

    def fixed(v: float, x0: np.ndarray) -> tuple[np.ndarray, float]:
        return _fit_fixed(form, P, F, L, j, v, x0)

    def visit(i: int, x0: np.ndarray) -> np.ndarray:
        x, dev = fixed(logs[i], x0)
        if dev < best[i]:
            best[i], sols[i] = dev, x
        return sols[i]

    for i in range(len(logs)):
        visit(i, x_hat)
    for order in (range(len(logs)), range(len(logs) - 1, -1, -1)):
        x = x_hat
        for i in order:
            x = visit(i, x)
    i_hat = int(np.searchsorted(logs, v_hat))
    rows = list(zip(np.exp(logs), best))

    def end(step: int) -> float:
        i = i_hat
        while 0 <= i + step < len(logs) and best[i + step] <= limit:
            i += step
        if not 0 <= i + step < len(logs):
            return 0.0 if step < 0 else np.inf
        v_in, v_out, x_in = logs[i], logs[i + step], sols[i]
        for _ in range(4):  # bisect to 1/16 of a grid step
            mid = (v_in + v_out) / 2
            x_mid, dev = fixed(mid, x_in)
            rows.append((float(np.exp(mid)), dev))
            if dev > limit:
                v_out = mid
            else:
                v_in, x_in = mid, x_mid
        return float(np.exp((v_in + v_out) / 2))

    lo, hi = end(-1), end(1)
    return lo, hi, pd.DataFrame(rows, columns=["value", "abs_dev"]).sort_values("value").reset_index(drop=True)


def curvature_test(pts: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Does the effect of pre-training flatten? At each f with 3 or more values of p, OLS
    of loss on [1, ln p, (ln p)²]; a positive (ln p)² coefficient is flattening, the
    only shape that lets G be told apart from A and α. One-sided p-values (statsmodels),
    and a pooled test with an intercept and slope per f and one common curvature."""
    rows = []
    for f, g in pts.groupby("tokens"):
        lp = np.log(g["pretrain_tokens"].to_numpy(float))
        if len(np.unique(lp)) < 3:
            continue
        lp = lp - lp.mean()
        res = sm.OLS(g["loss"].to_numpy(float), np.column_stack([np.ones(len(lp)), lp, lp**2])).fit()
        p_one = float(res.pvalues[2] / 2 if res.params[2] > 0 else 1 - res.pvalues[2] / 2) if res.df_resid > 0 else np.nan
        rows.append({"f": float(f), "p values": int(len(np.unique(lp))), "runs": int(len(lp)),
                     "curvature": float(res.params[2]), "std err": float(res.bse[2]) if res.df_resid > 0 else np.nan,
                     "p (flattens)": p_one})
    table = pd.DataFrame(rows, columns=["f", "p values", "runs", "curvature", "std err", "p (flattens)"])
    pooled = {"verdict": "can't tell: fewer than 3 values of p at every f", "curvature": None, "p_value": None}
    use = pts[pts["tokens"].isin(table["f"])]
    if len(table):
        lp = np.log(use["pretrain_tokens"].to_numpy(float))
        lp = lp - lp.mean()
        dummies = pd.get_dummies(use["tokens"].astype(float), dtype=float).to_numpy()
        X = np.column_stack([dummies, dummies * lp[:, None], lp**2])
        res = sm.OLS(use["loss"].to_numpy(float), X).fit()
        if res.df_resid > 0:
            c, pv = float(res.params[-1]), float(res.pvalues[-1])
            p_one = pv / 2 if c > 0 else 1 - pv / 2
            verdict = ("the p-effect flattens: G is identifiable" if p_one < 0.05 else
                       "can't tell whether the p-effect flattens: G is not identified by these runs")
            pooled = {"verdict": verdict, "curvature": c, "p_value": float(p_one)}
    return table, pooled


@single_threaded
def fit_barnett(runs, law: str = "barnett", n_boot: int = 200, seed: int = 0, n_params: float | None = None,
                profile: bool = False, g_critical: float = CHI2_1_95) -> FitResults:
    """Fit a transfer-gap law to the fine-tuned runs (at one model size: the largest
    number of distinct p values, unless ``n_params`` is given). ``profile=True`` adds
    profile-likelihood intervals for every parameter (``conf_int(method="profile")``);
    G's ends are where its statistic reaches ``g_critical`` (χ²₁'s 3.84 unless a
    calibration on the design says otherwise: ``gap.calibrate_gap``)."""
    if law not in LAWS:
        raise InputError(f"unknown law {law!r}; registered: {', '.join(LAWS)}")
    form = LAWS[law]
    ft = _prepare(runs)
    if n_params is None:
        n_params = ft.groupby("n_params")["pretrain_tokens"].nunique().idxmax()
    pts = ft[ft["n_params"] == n_params]
    n_p, n_f = pts["pretrain_tokens"].nunique(), pts["tokens"].nunique()
    if len(pts) < len(form.params) + 1 or n_p < 2 or n_f < 2:
        raise InputError(f"too few points for the {law} law at N={n_params:.4g}: {len(pts)} runs over {n_p} "
                         f"pre-training and {n_f} fine-tuning sizes; it needs more than {len(form.params)} runs "
                         f"over at least 2 of each.")
    P, F, L = (pts[c].to_numpy(float) for c in ("pretrain_tokens", "tokens", "loss"))
    x, fval = _fit_once(form, P, F, L, _starts(form, L))
    params = pd.Series(dict(zip(form.params, np.exp(x))))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(L), len(L))
        if len(np.unique(P[idx])) < 2 or len(np.unique(F[idx])) < 2:
            continue
        xb, _ = _fit_once(form, P[idx], F[idx], L[idx], [x])  # warm start at the full-data optimum
        boots.append(dict(zip(form.params, np.exp(xb))))
    resid = np.log(form.fn(params, P, F)) - np.log(L)
    n, k = len(L), len(form.params)
    sigma2 = float(np.mean(resid**2))
    info = {
        "form": form.doc,
        "n_params_model": float(n_params),
        "n_points": int(n),
        "rmse_log_loss": float(np.sqrt(sigma2)),
        "aic": float(n * np.log(max(sigma2, 1e-300)) + 2 * k),
        "aicc": (float(n * np.log(max(sigma2, 1e-300)) + 2 * k + 2 * k * (k + 1) / (n - k - 1))
                 if n > k + 1 else None),
        "huber_delta": HUBER_DELTA,
    }
    profile_ci = None
    curvature, pooled = curvature_test(pts)
    info["curvature_test"] = pooled
    info["curvature_by_f"] = curvature.to_dict("records")
    if profile:
        info["g_critical"] = float(g_critical)
        ends = {name: (_profile_on_grid(form, P, F, L, x, j, gap_grid(L), g_critical) if name == "G"
                       else _profile_interval(form, P, F, L, x, j)) for j, name in enumerate(form.params)}
        profile_ci = pd.DataFrame({0: {k: v[0] for k, v in ends.items()}, 1: {k: v[1] for k, v in ends.items()}})
        info["profiles"] = {k: v[2] for k, v in ends.items()}
    return FitResults(law, params, pd.DataFrame(boots) if boots else None, None, info,
                      functools.partial(predict_law, law), profile_ci,
                      reported="profile" if profile else "bootstrap")


@single_threaded
def compare_laws(runs, n_params: float | None = None) -> pd.DataFrame:
    """Every registered form: AICc (and AIC), in-sample RMSE and leave-one-out RMSE of
    log-loss, and where the runs have seed replicates the form's lack-of-fit test against
    them (``gap.misfit_p``, and the misfit's σ from ``gap.residual_noise``), best AICc first."""
    from ..gap import misfit_p, misfit_tests, residual_noise  # the tests read the design (seeds, cells): gap's

    ft = _prepare(runs)
    rows = []
    for name, form in LAWS.items():
        try:
            fit = fit_barnett(ft, name, n_boot=0, n_params=n_params)
        except InputError:
            continue
        pts = ft[ft["n_params"] == fit.info["n_params_model"]]
        P, F, L = (pts[c].to_numpy(float) for c in ("pretrain_tokens", "tokens", "loss"))
        x0 = np.log(fit.params.to_numpy())
        errs = []
        for i in range(len(L)):
            m = np.arange(len(L)) != i
            xi, _ = _fit_once(form, P[m], F[m], L[m], [x0])
            pred = form.fn(dict(zip(form.params, np.exp(xi))), P[i:i + 1], F[i:i + 1])
            errs.append(float(np.log(pred[0]) - np.log(L[i])))
        seeded = "seed" in pts
        if seeded:
            pts = pts.reset_index(drop=True)
        rows.append({"law": name, "k": len(form.params), "aicc": fit.info["aicc"], "aic": fit.info["aic"],
                     "rmse_log_loss": fit.info["rmse_log_loss"], "loo_rmse_log_loss": float(np.sqrt(np.mean(np.square(errs)))),
                     "misfit_p": misfit_p(misfit_tests(fit, pts)) if seeded else np.nan,
                     "sigma_misfit": residual_noise(fit, pts).cell if seeded else np.nan, "form": form.doc})
    return pd.DataFrame(rows).sort_values("aicc").reset_index(drop=True)


def fit_gap_per_size(runs, law: str = "barnett") -> pd.DataFrame:
    """G (or the form's constants) at every model size with 2 or more values of p, with
    profile intervals and the curvature test: the law has no N term, so G at a small N
    includes that size's capacity limit."""
    ft = _prepare(runs)
    rows = []
    for n, g in ft.groupby("n_params"):
        if g["pretrain_tokens"].nunique() < 2:
            continue
        try:
            fit = fit_barnett(g, law=law, n_boot=0, n_params=n, profile=True)
        except InputError as e:
            rows.append({"N": float(n), "note": str(e)})
            continue
        ci = fit.conf_int()
        rows.append({"N": float(n), "runs": fit.info["n_points"],
                     **{k: fit.params[k] for k in fit.params.index},
                     **{f"{k}_low": ci.loc[k, 0] for k in fit.params.index},
                     **{f"{k}_high": ci.loc[k, 1] for k in fit.params.index},
                     "curvature": fit.info["curvature_test"]["verdict"], "note": ""})
    return pd.DataFrame(rows)
