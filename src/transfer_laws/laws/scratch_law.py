"""Joint from-scratch laws L(N, D), fitted the way Epoch AI replicated Chinchilla
(Besiroglu et al. 2024): Huber loss (δ = 1e-3) on log-loss residuals, the law written
as a log-sum-exp of its terms, a grid of starts, L-BFGS, and a bootstrap over runs.

- ``chinchilla``: L = E + A·N^−alpha + B·D^−beta, i.e.
  log L = LSE(a − alpha·log N, b − beta·log D, e) with A = e^a, B = e^b, E = e^e;
- ``kaplan``: L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D, i.e.
  log L = alpha_D · LSE((alpha_N/alpha_D)·(log N_c − log N), log D_c − log D).

The grid of starts is Epoch's (alpha, beta ∈ 0…2, e ∈ −1…1, a, b ∈ 0…25) for Chinchilla;
the objective is evaluated at every grid point and L-BFGS-B run from the best
``N_STARTS`` of them (running it from all 3,600 changes nothing on our tests but the time).
Censored (``budget``) runs enter one-sided (``runs_table.one_sided``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from ..errors import InputError
from .results import FitResults, single_threaded
from .runs_table import one_sided, read_runs

HUBER_DELTA = 1e-3
N_STARTS = 20


def _lse(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log-sum-exp over the first axis and its softmax weights (plain numpy: this runs
    thousands of times per fit, and scipy's versions cost 10x more on small arrays)."""
    m = terms.max(axis=0)
    e = np.exp(terms - m)
    s = e.sum(axis=0)
    return m + np.log(s), e / s


def _chinchilla(x, lnN, lnD):
    a, b, e, al, be = x
    s, w = _lse(np.stack([a - al * lnN, b - be * lnD, e + 0 * lnN]))
    return s, np.stack([w[0], w[1], w[2], -w[0] * lnN, -w[1] * lnD], axis=1)


def _kaplan(x, lnN, lnD):
    lnc, an, lndc, ad = x
    u1 = an / ad * (lnc - lnN)
    s, w = _lse(np.stack([u1, lndc - lnD]))
    grad = np.stack([w[0] * an, w[0] * (lnc - lnN), ad * w[1], s - w[0] * u1], axis=1)
    return ad * s, grad


@dataclass(frozen=True)
class ScratchForm:
    name: str
    params: tuple[str, ...]
    log_loss: Callable  # (x, log N, log D) -> (log L, d log L / d x)
    to_params: Callable[[np.ndarray], dict[str, float]]
    grid: tuple[tuple[float, ...], ...]  # starting values per coordinate of x
    doc: str


FORMS = {
    "chinchilla": ScratchForm(
        "chinchilla", ("E", "A", "B", "alpha", "beta"), _chinchilla,
        lambda x: {"E": np.exp(x[2]), "A": np.exp(x[0]), "B": np.exp(x[1]), "alpha": x[3], "beta": x[4]},
        ((0, 5, 10, 15, 20, 25), (0, 5, 10, 15, 20, 25), (-1, -0.5, 0, 0.5, 1), (0, 0.5, 1, 1.5, 2),
         (0, 0.5, 1, 1.5, 2)),
        "E + A·N^−alpha + B·D^−beta (Hoffmann et al. 2022)"),
    "kaplan": ScratchForm(
        "kaplan", ("N_c", "alpha_N", "D_c", "alpha_D"), _kaplan,
        lambda x: {"N_c": np.exp(x[0]), "alpha_N": x[1], "D_c": np.exp(x[2]), "alpha_D": x[3]},
        ((10, 20, 30, 40), (0.05, 0.1, 0.3, 0.6), (5, 10, 15, 20, 25), (0.05, 0.1, 0.3, 0.6, 1.0)),
        "[(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (Kaplan et al. 2020)"),
}


def _objective(x, form: ScratchForm, lnN, lnD, lnL, censored):
    with np.errstate(all="ignore"):
        pred, grad = form.log_loss(x, lnN, lnD)
    r = one_sided(pred - lnL, censored)
    if not np.all(np.isfinite(r)):
        return 1e10, np.zeros_like(x)
    a = np.abs(r)
    f = np.where(a <= HUBER_DELTA, 0.5 * r**2, HUBER_DELTA * (a - 0.5 * HUBER_DELTA)).sum()
    g = np.clip(r, -HUBER_DELTA, HUBER_DELTA) @ grad
    # in units of δ²: L-BFGS-B's stopping rule is relative only for |f| > 1, and the raw
    # Huber sum of residuals ~1e-2 is far below 1, which stops it early.
    return float(f) / HUBER_DELTA**2, np.nan_to_num(g) / HUBER_DELTA**2


def _minimize(form, x0, data) -> tuple[np.ndarray, float]:
    r = minimize(_objective, x0, args=(form, *data), method="L-BFGS-B", jac=True, options={"maxiter": 5000})
    return r.x, float(r.fun)


def _grid(form: ScratchForm) -> np.ndarray:
    return np.array(np.meshgrid(*form.grid, indexing="ij")).reshape(len(form.grid), -1).T


def _fit_best(form: ScratchForm, data, n_starts: int = N_STARTS) -> tuple[np.ndarray, float]:
    starts = _grid(form)
    lnN, lnD, lnL, censored = data
    with np.errstate(all="ignore"):  # every start at once: coordinates as (starts, 1) columns
        pred, _ = form.log_loss(starts.T[:, :, None], lnN, lnD)
    r = np.abs(one_sided(pred - lnL, censored))
    values = np.where(r <= HUBER_DELTA, 0.5 * r**2, HUBER_DELTA * (r - 0.5 * HUBER_DELTA)).sum(axis=1)
    values = np.where(np.isfinite(values), values, np.inf)
    best = None
    for x0 in starts[np.argsort(values)[:n_starts]]:
        x, f = _minimize(form, x0, data)
        if best is None or f < best[1]:
            best = (x, f)
    return best


def scratch_rows(runs) -> pd.DataFrame:
    table = read_runs(runs)
    s = table[table["kind"] == "scratch"]
    if s.empty:
        raise InputError("the runs table has no scratch runs; `fit scratch` fits the from-scratch rows.")
    converged = s[s["stopped"] != "budget"]
    if converged["n_params"].nunique() < 2 or converged["tokens"].nunique() < 2:
        raise InputError("a joint from-scratch law needs converged runs at 2 or more model sizes and 2 or more "
                         f"data sizes; the table has {converged['n_params'].nunique()} and "
                         f"{converged['tokens'].nunique()}.")
    return s.reset_index(drop=True)


def _data(s: pd.DataFrame):
    return (np.log(s["n_params"].to_numpy(float)), np.log(s["tokens"].to_numpy(float)),
            np.log(s["loss"].to_numpy(float)), (s["stopped"] == "budget").to_numpy())


@single_threaded
def fit_scratch_law(runs, form: str = "chinchilla", n_boot: int = 1000, seed: int = 0) -> FitResults:
    """Fit a joint from-scratch law to the ``scratch`` rows of a runs table (path or
    DataFrame), with percentile intervals from ``n_boot`` resamples of runs, each refitted
    from the full-data optimum."""
    if form not in FORMS:
        raise InputError(f"unknown from-scratch form {form!r}; use one of {', '.join(FORMS)}.")
    f = FORMS[form]
    s = scratch_rows(runs)
    data = _data(s)
    if len(s) <= len(f.params):
        raise InputError(f"{len(s)} from-scratch runs for the {len(f.params)} constants of the {form} law: add runs.")
    x, fval = _fit_best(f, data)
    params = pd.Series(f.to_params(x), dtype=float)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(s), len(s))
        xb, _ = _minimize(f, x, tuple(d[idx] for d in data))
        boots.append(f.to_params(xb))
    pred, _ = f.log_loss(x, *data[:2])
    resid = pred - data[2]
    info = {"form": f.doc, "n_runs": int(len(s)), "n_censored": int(data[3].sum()), "huber_delta": HUBER_DELTA,
            "rmse_log_loss": float(np.sqrt(np.mean(one_sided(resid, data[3]) ** 2))),
            "bootstrap": "runs (rows)"}
    return FitResults(form, params, pd.DataFrame(boots) if boots else None, None, info,
                      functools.partial(predict_scratch, form))


def predict_scratch(form: str, params, N, D) -> np.ndarray:
    p = dict(params)
    N, D = np.asarray(N, float), np.asarray(D, float)
    if form == "chinchilla":
        return p["E"] + p["A"] * N ** (-p["alpha"]) + p["B"] * D ** (-p["beta"])
    return ((p["N_c"] / N) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / D) ** p["alpha_D"]


def _per_size_predict(train: pd.DataFrame, test: pd.DataFrame, method: str) -> np.ndarray:
    """Each size's own curve (power law, or monotone interpolation in log D, which cannot
    extrapolate: held-out ends get the nearest measured loss), fitted to seed means."""
    from .scratch import fit_curve, _isotonic_decreasing

    out = np.full(len(test), np.nan)
    for n, g in test.groupby("n_params"):
        tr = train[train["n_params"] == n].groupby("tokens")["loss"].mean()
        if len(tr) < 2:
            continue
        D, L = tr.index.to_numpy(float), tr.to_numpy(float)
        m = (test["n_params"] == n).to_numpy()
        if method == "power_law":
            curve = fit_curve(D, L, n)
            if curve.method != "power_law":
                continue
            out[m] = curve.loss(test.loc[m, "tokens"].to_numpy(float))
        else:
            out[m] = np.exp(np.interp(np.log(test.loc[m, "tokens"].to_numpy(float)), np.log(D),
                                      np.log(_isotonic_decreasing(L))))
    return out


@single_threaded
def compare_scratch_forms(runs) -> pd.DataFrame:
    """Which from-scratch law predicts runs it has not seen: RMSE of log-loss on (1) each
    (N, D) held out in turn (all its seeds), and (2) the largest size held out. Candidates:
    a power law per size, a monotone interpolation per size, and the joint chinchilla and
    kaplan forms (warm-started from their full-data fit). Converged runs only; a per-size
    form cannot predict a size it has no runs of (nan)."""
    s = scratch_rows(runs)
    s = s[s["stopped"] != "budget"].reset_index(drop=True)
    joint = {name: _fit_best(FORMS[name], _data(s))[0] for name in FORMS}

    def predict(name: str, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        if name in ("power_law", "interpolate"):
            return _per_size_predict(train, test, name)
        x, _ = _minimize(FORMS[name], joint[name], _data(train))
        return np.exp(FORMS[name].log_loss(x, *_data(test)[:2])[0])

    names = ["power_law", "interpolate", *FORMS]
    cells = s.groupby(["n_params", "tokens"]).groups
    largest = s["n_params"].max()
    rows = []
    for name in names:
        errs = []
        for idx in cells.values():
            test = s.loc[idx]
            errs.append(np.log(predict(name, s.drop(idx), test)) - np.log(test["loss"].to_numpy()))
        e = np.concatenate(errs)
        test = s[s["n_params"] == largest]
        e2 = np.log(predict(name, s[s["n_params"] != largest], test)) - np.log(test["loss"].to_numpy())
        predicted = ~np.isnan(e)
        rows.append({"form": name, "held-out D: RMSE(log L)": float(np.sqrt(np.mean(e[predicted] ** 2)))
                     if predicted.any() else np.nan,
                     "held-out D: not predicted": int(np.isnan(e).sum()),
                     "held-out largest N: RMSE(log L)": float(np.sqrt(np.mean(e2**2))) if np.isfinite(e2).all()
                     else np.nan})
    return pd.DataFrame(rows)
