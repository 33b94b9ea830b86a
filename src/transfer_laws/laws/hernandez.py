"""The Hernandez et al. (2021) law of effective data transferred:

    D_T = k · D_F^α · N^β        (eq. 1.1)

``fit_hernandez`` is the estimate the project stands behind: the law fitted in loss
space over every run (``hernandez_loss``). Which runs enter any Hernandez fit is decided
by ``DESIGN_RULES`` alone, rules on the design (never on an outcome), listed once here
and applied by ``design_rows`` everywhere:

- ``other_p``: fine-tunes pre-trained on another p than the study's main one are left
  out (the law holds p fixed; the extra p belong to the transfer-gap grid);
- ``other_source``: fine-tunes of other sources are left out (one source per fit;
  ``compare_sources`` fits two jointly);
- censored (``budget``) runs are kept, one-sided (``runs_table.one_sided``).

``fit_dt_space`` is the paper's view, kept for its figures (Fig. 1, 2, App. C): D_E read
off each size's curve, then a log-linear fit of D_T,
fitted as ``log D_T = log k + α log D_F + β log N`` by statsmodels OLS (analytic
intervals, which treat D_T as measured), by statsmodels RLM with Huber's T
(robust), and with percentile bootstrap intervals. The bootstrap resamples whole
runs, from-scratch runs within each N and fine-tuned runs, and redoes everything
downstream (the per-N curves, D_E, the selection, the fit), so its intervals carry
the uncertainty of the from-scratch curves too; they are the ones we report.

On top of the design rules it needs rules on the outcome, which is why it is a view and
not the estimate (log D_T needs D_T > 0, and those survivors are biased); each reports
how many points it dropped:

- ``censored``: a ``budget`` run's loss is only an upper bound, and the D_T view has no
  likelihood to make it one-sided in, so it is left out (of the per-size curves too);
- ``finite``: D_E is finite (the fine-tuned loss is above the from-scratch asymptote);
- ``positive``: D_T > 0 (the law is a power law in D_T);
- ``low_data``: D_F ≤ ``low_data_fraction`` · D(N), D(N) being the data N needs to
  come within 1% of its infinite-data loss (the paper fits the low-data regime only);
- ``resolvable``: D_T / D_F ≥ ``min_ratio``. Where the fine-tuned and from-scratch
  curves nearly meet, a loss difference within the noise moves D_T by orders of
  magnitude; this rule keeps the points where transfer is at least a
  ``min_ratio`` share of D_F;
- ``extrapolated`` (on by default): D_E read beyond the measured from-scratch range,
  where it rests on the fitted curve's tail alone (a fine-tuned model better than every
  from-scratch run of its size can land orders of magnitude out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ..errors import InputError
from .effective_data import effective_data
from .scratch import fit_curve, fit_curves
from .results import FitResults, single_threaded
from .runs_table import read_runs


@dataclass(frozen=True)
class Selection:
    low_data_fraction: float | None = 0.1
    min_ratio: float = 0.05
    drop_extrapolated: bool = True


def _rules(ed: pd.DataFrame, sel: Selection) -> list[tuple[str, np.ndarray]]:
    """The selection rules in the order they apply: (name, which points pass)."""
    censored = (ed["stopped"] == "budget").to_numpy() if "stopped" in ed else np.zeros(len(ed), bool)
    rules = [("censored", ~censored), ("finite", np.isfinite(ed["D_E"].to_numpy(float))),
             ("positive", (ed["D_T"] > 0).to_numpy())]
    if sel.low_data_fraction is not None:
        rules.append(("low_data", (ed["D_F"] <= sel.low_data_fraction * ed["D_saturate"]).to_numpy()))
    rules.append(("resolvable", (ed["D_T"] / ed["D_F"] >= sel.min_ratio).to_numpy()))
    if sel.drop_extrapolated:
        rules.append(("extrapolated", ~ed["extrapolated"].to_numpy(bool)))
    return rules


def drop_reasons(ed: pd.DataFrame, sel: Selection | None = None) -> pd.Series:
    """Why each point is left out of the fit: the first selection rule it fails, or ''
    where the fit uses it. The rules, in order: finite, positive, low_data, resolvable,
    extrapolated (and censored first, where the table says which runs are)."""
    reason = np.full(len(ed), "", dtype=object)
    for name, ok in reversed(_rules(ed, sel or Selection())):  # the first failing rule wins
        reason[~ok] = name
    return pd.Series(reason, index=ed.index, name="left_out")


def select_points(ed: pd.DataFrame, sel: Selection) -> tuple[pd.DataFrame, dict[str, int]]:
    if ed["D_T"].gt(0).sum() == 0:
        raise InputError("every fine-tuned run has D_T ≤ 0 (no run beats the from-scratch curve at its D_F): "
                         "there is no transfer to fit. Check that the fine-tuned runs start from pre-trained weights.")
    reason = drop_reasons(ed, sel)
    dropped = {name: int((reason == name).sum()) for name, _ in _rules(ed, sel)}
    return ed[(reason == "").to_numpy()].reset_index(drop=True), dropped


def _design(pts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    X = np.column_stack([np.ones(len(pts)), np.log(pts["D_F"]), np.log(pts["n_params"])])
    return X, np.log(pts["D_T"].to_numpy(float))


def _to_params(b: np.ndarray) -> dict[str, float]:
    return {"k": float(np.exp(b[0])), "alpha": float(b[1]), "beta": float(b[2])}


def predict_dt(params: pd.Series, D_F, N) -> np.ndarray:
    return params["k"] * np.asarray(D_F, float) ** params["alpha"] * np.asarray(N, float) ** params["beta"]


def main_pretrain_tokens(table: pd.DataFrame) -> float | None:
    """The pre-training size p the law is fitted at when fine-tuned runs have several: the
    one present at the most model sizes, the largest on a tie (a study's main p, beside a
    transfer-gap grid at one size)."""
    ft = table[table["kind"] == "finetune"]
    if ft.empty:
        return None
    sizes = ft.groupby("pretrain_tokens")["n_params"].nunique()
    return float(max(sizes.index, key=lambda p: (sizes[p], p)))


DESIGN_RULES = ("other_p", "other_source")


def design_rows(table: pd.DataFrame, pretrain_tokens: float | None = None,
                sources: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, int], float | None, list[str]]:
    """Apply ``DESIGN_RULES`` to a ``read_runs`` table: (rows kept, how many each rule
    left out, the p fitted at, the sources fitted). ``sources`` None: the table must
    hold one source."""
    ft = table["kind"] == "finetune"
    if not ft.any():
        raise InputError("the runs table has no finetune runs.")
    have_sources = sorted(table.loc[ft, "source"].unique())
    if sources is None:
        if len(have_sources) > 1:
            raise InputError(f"the fine-tuned runs come from {len(have_sources)} sources ({', '.join(have_sources)}); "
                             f"choose one (--source), or compare two with compare_sources.")
        sources = have_sources
    unknown = [s for s in sources if s not in have_sources]
    if unknown:
        raise InputError(f"no fine-tuned run has source {', '.join(map(repr, unknown))}; the runs have "
                         f"{', '.join(map(repr, have_sources))}.")
    p = main_pretrain_tokens(table[~ft | table["source"].isin(sources)]) if pretrain_tokens is None else float(pretrain_tokens)
    if not (table.loc[ft, "pretrain_tokens"] == p).any():
        have = ", ".join(f"{v:,.0f}" for v in sorted(table.loc[ft, "pretrain_tokens"].unique()))
        raise InputError(f"no fine-tuned run has pretrain_tokens = {p:,.0f}; the runs have {have}.")
    other_source = ft & ~table["source"].isin(sources)
    other_p = ft & ~other_source & (table["pretrain_tokens"] != p)
    kept = table[~other_source & ~other_p].reset_index(drop=True)
    return kept, {"other_p": int(other_p.sum()), "other_source": int(other_source.sum())}, p, list(sources)


def fit_hernandez(runs, source: str | None = None, pretrain_tokens: float | None = None, n_boot: int = 200,
                  seed: int = 0, profile: bool = True, scratch_form: str = "spline") -> FitResults:
    """Fit D_T = k·D_F^α·N^β in loss space to a runs table (path or DataFrame), over
    every run the design rules keep; ``ci95`` is the profile-likelihood interval, the
    seed-cluster bootstrap is reported beside it (``hernandez_loss``)."""
    from .hernandez_loss import fit_hernandez_loss

    rows, left_out, p, sources = design_rows(read_runs(runs), pretrain_tokens, None if source is None else [source])
    fit = fit_hernandez_loss(rows, sources[0], n_boot=n_boot, seed=seed, profile=profile, scratch_form=scratch_form)
    fit.info.update({"pretrain_tokens": p, "left out": left_out})
    return fit


def compare_sources(runs, source_a: str, source_b: str, pretrain_tokens: float | None = None,
                    n_boot: int = 200, seed: int = 0, scratch_form: str = "spline") -> FitResults:
    """α, β and log k of source A minus source B (same target), from one joint fit; the
    intervals are of the differences, never an overlap of two intervals."""
    from .hernandez_loss import compare_loss_space

    rows, left_out, p, _ = design_rows(read_runs(runs), pretrain_tokens, [source_a, source_b])
    fit = compare_loss_space(rows, source_a, source_b, n_boot=n_boot, seed=seed, scratch_form=scratch_form)
    fit.info.update({"pretrain_tokens": p, "left out": left_out})
    return fit


@single_threaded
def fit_dt_space(runs, selection: Selection | None = None, n_boot: int = 1000, seed: int = 0,
                 robust: bool = False, pretrain_tokens: float | None = None) -> FitResults:
    """The paper's view: D_T = k·D_F^α·N^β fitted by OLS on log D_T, to a runs table
    (path, DataFrame; the same design rules as ``fit_hernandez``) or to an
    effective-data frame. Biased by its outcome rules: for the paper's figures only."""
    sel = selection or Selection()
    table = None
    other_p = 0
    if isinstance(runs, pd.DataFrame) and "D_T" in runs:
        df = runs
    else:
        table, left_out, p, _ = design_rows(read_runs(runs), pretrain_tokens)
        other_p = left_out["other_p"]
        curves = fit_curves(table)
        df = effective_data(table, curves)
    pts, dropped = select_points(df, sel)
    if len(pts) < 4:
        raise InputError(f"only {len(pts)} fine-tuned points survive selection (dropped: {dropped}); the law has "
                         f"3 constants and needs at least 4. Add runs, or relax the selection "
                         f"(low_data_fraction, min_ratio).")
    if pts["n_params"].nunique() < 2 or pts["D_F"].nunique() < 2:
        raise InputError("the selected points need at least 2 model sizes and 2 fine-tuning sizes to separate α from β.")
    X, y = _design(pts)
    ols = sm.OLS(y, X).fit()
    rlm = sm.RLM(y, X, M=sm.robust.norms.HuberT()).fit()
    main = rlm if robust else ols
    params = pd.Series(_to_params(main.params))
    ci = main.conf_int(0.05)
    ols_ci = pd.DataFrame({0: [np.exp(ci[0, 0]), ci[1, 0], ci[2, 0]], 1: [np.exp(ci[0, 1]), ci[1, 1], ci[2, 1]]},
                          index=["k", "alpha", "beta"])
    rng = np.random.default_rng(seed)
    if table is None:  # only D_T given: resample the selected points
        boots = []
        for _ in range(n_boot):
            idx = rng.integers(0, len(y), len(y))
            if np.linalg.matrix_rank(X[idx]) == 3:
                boots.append(_to_params(np.linalg.lstsq(X[idx], y[idx], rcond=None)[0]))
    else:
        boots = _bootstrap_runs(table, curves, sel, n_boot, rng)
    resid = y - X @ main.params
    info = {
        "n_points": int(len(pts)),
        "pretrain_tokens": int(pts["pretrain_tokens"].iloc[0]) if "pretrain_tokens" in pts else None,
        "left out (other p)": other_p,
        "dropped": dropped,
        "selection": {"low_data_fraction": sel.low_data_fraction, "min_ratio": sel.min_ratio,
                      "drop_extrapolated": sel.drop_extrapolated},
        "method": "RLM (Huber T) on log D_T" if robust else "OLS on log D_T",
        "r_squared": float(ols.rsquared),
        "rmse_log_dt": float(np.sqrt(np.mean(resid**2))),
        "robust_params": _to_params(rlm.params),
        "used": pts[["n_params", "D_F", "pretrain_tokens", "loss", "D_E", "D_T"]].to_dict("records"),
    }
    return FitResults("hernandez_dt_space", params, pd.DataFrame(boots) if boots else None, ols_ci, info,
                      predict_dt)


def _bootstrap_runs(table: pd.DataFrame, curves: dict, sel: Selection, n_boot: int,
                    rng: np.random.Generator) -> list[dict[str, float]]:
    """Resample runs (from-scratch runs within each N, fine-tuned runs overall) and
    redo curves -> D_E -> selection -> fit on each resample. Plain numpy: this loop
    runs 1,000 times."""
    table = table[table["stopped"] != "budget"]  # the "censored" rule, as in _rules
    s = table[table["kind"] == "scratch"]
    sN, sD, sL = (s[c].to_numpy(float) for c in ("n_params", "tokens", "loss"))
    f = table[table["kind"] == "finetune"]
    fN, fD, fL = (f[c].to_numpy(float) for c in ("n_params", "tokens", "loss"))
    groups = {n: np.flatnonzero(sN == n) for n in np.unique(sN)}
    boots = []
    for _ in range(n_boot):
        fit_of = {}
        for n, g in groups.items():
            idx = g[rng.integers(0, len(g), len(g))]
            d, inv = np.unique(sD[idx], return_inverse=True)
            if len(d) < 2:
                break
            loss = np.bincount(inv, weights=sL[idx]) / np.bincount(inv)
            fit_of[n] = fit_curve(d, loss, n, start=curves.get(n))
        else:
            j = rng.integers(0, len(fL), len(fL))
            N, DF, L = fN[j], fD[j], fL[j]
            if not all(n in fit_of for n in np.unique(N)):
                continue
            DE, dsat = np.empty(len(L)), np.empty(len(L))
            extrap = np.zeros(len(L), dtype=bool)
            for n in np.unique(N):
                m = N == n
                DE[m], extrap[m] = fit_of[n].effective_data(L[m])
                dsat[m] = fit_of[n].data_to_saturate()
            DT = DE - DF
            with np.errstate(all="ignore"):
                keep = np.isfinite(DE) & (DT > 0) & (DT / DF >= sel.min_ratio)
                if sel.low_data_fraction is not None:
                    keep &= DF <= sel.low_data_fraction * dsat
                if sel.drop_extrapolated:
                    keep &= ~extrap
            if keep.sum() < 4:
                continue
            Xb = np.column_stack([np.ones(keep.sum()), np.log(DF[keep]), np.log(N[keep])])
            if np.linalg.matrix_rank(Xb) < 3:
                continue
            boots.append(_to_params(np.linalg.lstsq(Xb, np.log(DT[keep]), rcond=None)[0]))
    return boots


def logit_fraction_fit(ed: pd.DataFrame) -> FitResults:
    """Appendix C: logit(D_T/D_E) against log N, one intercept per D_F and a common
    slope, which the paper reads as ≈ β."""
    pts = ed[(ed["D_T"] > 0) & np.isfinite(ed["D_E"])]
    if pts["D_F"].nunique() < 1 or len(pts) < 3:
        raise InputError("too few points with D_T > 0 for the logit view.")
    f = pts["fraction_transfer"].clip(1e-6, 1 - 1e-6)
    logit = np.log(f / (1 - f))
    dums = pd.get_dummies(pts["D_F"].astype(float), prefix="DF", dtype=float)
    X = np.column_stack([dums.to_numpy(), np.log(pts["n_params"].to_numpy(float))])
    res = sm.OLS(logit.to_numpy(), X).fit()
    slope = res.params[-1]
    ci = res.conf_int()[-1]
    return FitResults("logit_fraction", pd.Series({"slope": slope}), None,
                      pd.DataFrame({0: [ci[0]], 1: [ci[1]]}, index=["slope"]),
                      {"intercepts": dict(zip(dums.columns, res.params[:-1].tolist())), "n_points": int(len(pts))})
