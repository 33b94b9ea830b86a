"""The transfer gap of one study at every model size that has a grid of p.

``study_gap_fits`` fits the Barnett form with profile intervals at each size with 2 or
more pre-training sizes (the law has no N term, so G is fitted and reported per N), once
per book build (``analysis.cached_fit``); ``gap_table`` flattens the fits into one row
per (pair, N) with G's interval and whether the data bound it on both sides, β (G is in
loss·tokens^β, so pairs compare as G·f^−β at a shared f), the D_F values fitted, and G's
profile on the χ²₁ scale (``GapFit.g_profile``) from which intervals of ratios between
pairs are built (``claims.log_ratio_interval``). Every page that ranks pairs by G or
draws an allocation reads ``bounded`` from here.

G's interval is calibrated on the design: ``calibrate_gap`` draws synthetic fine-tunes
from a size's own fit, with the parts of its residuals (``residual_noise``: seed and
(seed, f) offsets, the law's lack of fit as a (p, f) offset, and scatter), on the (p, f,
seed) points as run, and measures the profile statistic at the true G. Its 95th
percentile, where above χ²₁'s 3.84, becomes the critical value of that fit's interval
(never below 3.84). The draws take minutes per size, so they are stored as data beside
the records (``results/calibration/``, written by ``benchmarks/gap_calibration.py
--write``) with the hash of the runs they were drawn from; a fit whose runs changed since
falls back to 3.84 and says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import f as f_dist

from .atomic import atomic_write_text
from .errors import InputError
from .laws import fit_barnett
from .laws.barnett import (CHI2_1_95, LAWS, _abs_dev, _fit_fixed, _fit_once, _profile_on_grid, _starts, gap_grid,
                           lr_scale)
from .laws.results import single_threaded


@dataclass
class GapFit:
    pair: str
    source: str
    target: str
    profile: str
    n_params: float
    fit: object | None  # FitResults, None where the law could not be fitted
    points: pd.DataFrame
    note: str = ""
    calibration: dict | None = field(default=None, repr=False)  # calibrate_gap's entry, where current
    complete: bool = True  # every planned fine-tune at this size has a record (else the fit is provisional)

    @cached_property
    def noise(self) -> "GapNoise | None":
        """The parts of the fit's residuals and the law's lack-of-fit test (``residual_noise``)."""
        return residual_noise(self.fit, self.points) if self.fit is not None else None

    @cached_property
    def misfit(self) -> pd.DataFrame | None:
        """The law's lack-of-fit tests by part (``misfit_tests``)."""
        return misfit_tests(self.fit, self.points) if self.fit is not None else None

    @property
    def critical(self) -> float:
        """The statistic's value at G's interval ends: the calibrated one, or χ²₁'s 3.84."""
        return gap_critical(self.calibration)

    @property
    def bounded(self) -> bool:
        """G's 95% profile interval has a finite, positive end on both sides."""
        if self.fit is None:
            return False
        lo, hi = self.fit.conf_int().loc["G"]
        return bool(lo > 0 and np.isfinite(hi))

    def g_profile(self) -> pd.DataFrame | None:
        """G's profile as (value, stat): stat = 4(S − Ŝ)/(√(2π)·σ), the rise of the summed
        absolute log-residual on the χ²₁ scale the fit's own interval uses
        (``barnett._profile_limit``), rescaled by 3.84/critical where the interval is
        calibrated, so that χ²₁'s quantiles apply to it (as the fit's own ends do)."""
        if self.fit is None or "profiles" not in self.fit.info:
            return None
        prof = self.fit.info["profiles"]["G"]
        n, k = self.fit.info["n_points"], len(self.fit.params)
        sigma = self.fit.info["rmse_log_loss"] * np.sqrt(n / max(n - k, 1))
        critical = self.fit.info.get("g_critical", CHI2_1_95)
        stat = 4 * (prof["abs_dev"] - prof["abs_dev"].min()) / (np.sqrt(2 * np.pi) * sigma) * CHI2_1_95 / critical
        return pd.DataFrame({"value": prof["value"].to_numpy(float), "stat": stat.to_numpy(float)})


def fit_gap_at_size(pts: pd.DataFrame, n_params: float, g_critical: float = CHI2_1_95):
    """The Barnett law at one model size with profile intervals, as every page fits it."""
    return fit_barnett(pts, n_boot=0, profile=True, n_params=n_params, g_critical=g_critical)


# -- calibration of G's interval on the design ---------------------------------------

CALIBRATION_VERSION = 5  # bump when the law's fit or the draws change
CALIBRATION_DRAWS = 200


@dataclass(frozen=True)
class GapNoise:
    """A fit's log-residuals split by what the design shares (σ in log-loss), and the
    lack-of-fit test of the law against the seed replicates.

    - ``seed``: an offset a seed's runs share (one pre-training pass gives a seed every p);
    - ``seed_f``: an offset a seed's runs at one f share (every p is fine-tuned on the
      same D_F subset of that seed);
    - ``seed_p``: an offset a seed's runs at one p share (every f is fine-tuned from the
      same pre-training checkpoint of that seed);
    - ``cell``: the law's lack of fit, an offset every seed's run at one (p, f) shares
      (more seeds do not shrink it);
    - ``within``: each run's own scatter.
    ``lof_F`` compares the spread of the (p, f) cell means about the law with the spread
    of the seeds within cells (after each seed's offset), on (``lof_df``, ``pure_df``)
    degrees of freedom; ``lof_p`` is its p-value (nan without replicates). It is a
    summary: the cell means share (seed, f) and (seed, p) offsets whole columns and rows at
    a time, so its p-value is too small; ``misfit_tests`` is the test the book reads."""
    seed: float
    seed_f: float
    cell: float
    within: float
    lof_F: float
    lof_df: int
    pure_df: int
    lof_p: float
    seed_p: float = 0.0


def _n0(counts: np.ndarray) -> float:
    """The effective group size of an unbalanced one-way layout (ANOVA's n₀)."""
    total = counts.sum()
    return float((total - (counts**2).sum() / total) / max(len(counts) - 1, 1)) if len(counts) > 1 else float(total)


def _data_minus_law(fit, pts: pd.DataFrame) -> np.ndarray:
    """log(loss) − log(law) for each run, under the form the fit is of."""
    form = LAWS[fit.law]
    P, F = pts["pretrain_tokens"].to_numpy(float), pts["tokens"].to_numpy(float)
    return np.log(pts["loss"].to_numpy(float)) - np.log(form.fn(fit.params, P, F))


def residual_noise(fit, pts: pd.DataFrame) -> GapNoise:
    """``GapNoise`` of the fit's log-residuals, by the method of moments in three steps:
    seed means, then (p, f) cell means (lack of fit against pure error, the F test), then
    the (seed, f) and (seed, p) offsets beside the cells, fitted together; each σ² is what
    its means spread beyond the scatter below them puts there (floored at 0), corrected
    for the fitted constants."""
    P, F = pts["pretrain_tokens"].to_numpy(float), pts["tokens"].to_numpy(float)
    r = _data_minus_law(fit, pts)
    seed = pts["seed"].to_numpy()
    cell = pd.MultiIndex.from_arrays([P, F])
    n, k = len(r), len(fit.params)
    by_seed = pd.Series(r).groupby(seed)
    r1 = r - by_seed.transform("mean").to_numpy()
    by_cell = pd.Series(r1).groupby(cell)
    r2 = r1 - by_cell.transform("mean").to_numpy()
    n_seeds, n_cells = len(by_seed.size()), len(by_cell.size())
    pure_df = n - n_cells - (n_seeds - 1)
    lof_df = n_cells - k
    if n_seeds < 2 or pure_df < 1 or lof_df < 1:
        within = float(np.sqrt(np.sum(r1**2) / max(n - k - (n_seeds - 1), 1)))
        return GapNoise(0.0, 0.0, 0.0, within, np.nan, max(lof_df, 0), max(pure_df, 0), np.nan)
    ms_pure = float(np.sum(r2**2) / pure_df)
    ms_lof = float((by_cell.size() * by_cell.mean() ** 2).sum() / lof_df)
    # the (seed, f) and (seed, p) offsets, fitted by least squares beside the (p, f) cells
    # (the p grid's D_F are a subset of the main p's, so the layout is not quite balanced
    # and group means alone are not orthogonal); the seeds are spanned by either offset
    C, SF, SP = _indicators(cell), _indicators(pd.MultiIndex.from_arrays([seed, F])), \
        _indicators(pd.MultiIndex.from_arrays([seed, P]))
    ss_all, rank_all = _rss(r, np.column_stack([C, SF, SP]))
    lof_p = float(f_dist.sf(ms_lof / ms_pure, lof_df, pure_df))
    var_cell = max(ms_lof - ms_pure, 0.0) / _n0(by_cell.size().to_numpy(float))
    if n - rank_all < 1:
        # no scatter is left beside both offsets (one f or one p): they cannot be told
        # apart from it, so they stay in the scatter; the seed and the cells still can
        ms_within, var_sf, var_sp = ms_pure, 0.0, 0.0
    else:
        ms_within = ss_all / (n - rank_all)
        var_sf = _added_variance(r, np.column_stack([C, SP]), SF, ss_all, rank_all, ms_within)
        var_sp = _added_variance(r, np.column_stack([C, SF]), SP, ss_all, rank_all, ms_within)
    # the seed from its means, less what the scatter and the (seed, f) and (seed, p)
    # offsets put there; exact where every seed has the same runs, as the grid does
    counts = by_seed.size().to_numpy(float)
    m = counts.mean()
    # Σ (runs at one f, or p)² over a seed's groups, on average over seeds
    per_f, per_p = (float((X.sum(axis=0) ** 2).sum() / n_seeds) for X in (SF, SP))
    var_seed = max(float(np.var(by_seed.mean(), ddof=1)) - ms_within / m - (var_sf * per_f + var_sp * per_p) / m**2,
                   0.0)
    return GapNoise(float(np.sqrt(var_seed)), float(np.sqrt(var_sf)), float(np.sqrt(var_cell)),
                    float(np.sqrt(ms_within)), ms_lof / ms_pure, int(lof_df), int(pure_df),
                    lof_p, float(np.sqrt(var_sp)))


def _indicators(keys) -> np.ndarray:
    """One indicator column per distinct key."""
    codes, uniques = pd.factorize(keys)
    out = np.zeros((len(codes), len(uniques)))
    out[np.arange(len(codes)), codes] = 1.0
    return out


def _rss(r: np.ndarray, X: np.ndarray) -> tuple[float, int]:
    coef, *_ = np.linalg.lstsq(X, r, rcond=None)
    return float(np.sum((r - X @ coef) ** 2)), int(np.linalg.matrix_rank(X))


def _added_variance(r: np.ndarray, base: np.ndarray, added: np.ndarray, ss_all: float, rank_all: int,
                    ms_within: float) -> float:
    """σ² of the offsets in ``added`` (indicator columns Z, one per group) by the method of
    moments (Henderson's method III): the residual sum of squares they remove once ``base``
    is in (type II) has expectation df·σ²_within + tr(Z′MZ)·σ², with M the projection off
    ``base``'s columns; on an unbalanced layout tr(Z′MZ) is not df times a group size."""
    ss_base, rank_base = _rss(r, base)
    df = rank_all - rank_base
    if df < 1:
        return 0.0
    coef, *_ = np.linalg.lstsq(base, added, rcond=None)
    trace = float(np.sum((added - base @ coef) ** 2))
    return max((ss_base - ss_all) - df * ms_within, 0.0) / trace


def cell_residuals(fit, pts: pd.DataFrame) -> pd.DataFrame:
    """Where the law misses: per (p, f) cell, the mean log-residual of its runs after each
    seed's offset (the cell means ``residual_noise``'s F test reads), with the runs in it
    and the standard error of that mean from the spread of the seeds within cells (pure
    error; nan without replicates). A positive residual: the runs are worse than the law."""
    P, F = pts["pretrain_tokens"].to_numpy(float), pts["tokens"].to_numpy(float)
    r = _data_minus_law(fit, pts)
    seed = pts["seed"].to_numpy()
    r1 = r - pd.Series(r).groupby(seed).transform("mean").to_numpy()
    d = pd.DataFrame({"pretrain_tokens": P, "tokens": F, "r": r1})
    by_cell = d.groupby(["pretrain_tokens", "tokens"])["r"]
    n, n_cells, n_seeds = len(d), by_cell.ngroups, len(np.unique(seed))
    pure_df = n - n_cells - (n_seeds - 1)
    ms_pure = float(((d["r"] - by_cell.transform("mean")) ** 2).sum() / pure_df) if pure_df > 0 else np.nan
    out = by_cell.agg(residual="mean", runs="size").reset_index()
    return out.assign(se=np.sqrt(ms_pure / out["runs"]))


MISFIT_PARTS = ("f", "p", "p × f")


def misfit_tests(fit, pts: pd.DataFrame) -> pd.DataFrame:
    """The law's lack of fit, each part read against the error it shares with the design.

    The log-residuals on the (p, f) rectangle (the f values run at every p; a lone f at one
    p drops out) are split by ANOVA (statsmodels, sequential sums of squares) into seed, p,
    f, seed × p (one pre-training checkpoint per seed and p), seed × f (one D_F subset per
    seed and f), p × f and residual. The misfit's f columns are tested against seed × f,
    its p rows against seed × p and its p × f interaction against the residual: a column
    that every seed's subsets share is one effect, not one per p. The degrees of freedom
    are not reduced for the law's fitted constants. Where the law holds, the f and p parts
    kept their level on synthetic runs (``benchmarks/misfit_level.py``, 20 draws per
    setting), while the p × f part over-rejects as the shared offsets grow against the
    scatter (the book's rule rejected in 0 and 1 of 20 draws with offsets 0.7× and 1× the
    scatter, 3 of 20 at 2.5×, 15 of 20 at 7×): the law's constants absorb the offsets' row
    and column means and bend its interaction. The latex pairs are nearest that regime
    (their (seed, f) offsets are 1.2–2.1× their scatter). One row per part
    (``MISFIT_PARTS``): F, df, df_error, p (nan without replicates)."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    d = pd.DataFrame({"r": _data_minus_law(fit, pts), "s": pts["seed"].astype(int).astype(str).to_numpy(),
                      "p": pts["pretrain_tokens"].astype(float).to_numpy(), "f": pts["tokens"].astype(float).to_numpy()})
    at_every_p = d.groupby("f")["p"].nunique() == d["p"].nunique()
    d = d[d["f"].isin(at_every_p[at_every_p].index)]
    d = d.assign(p=d["p"].map("{:.0f}".format), f=d["f"].map("{:.0f}".format))
    empty = pd.DataFrame({"F": np.nan, "df": np.nan, "df_error": np.nan, "p": np.nan}, index=list(MISFIT_PARTS))
    if d["s"].nunique() < 2 or d["f"].nunique() < 2 or d["p"].nunique() < 2:
        return empty
    a = anova_lm(smf.ols("r ~ C(s) * C(p) + C(s) * C(f) + C(p) * C(f)", data=d).fit(), typ=1)
    ms = a["sum_sq"] / a["df"]
    rows = {}
    for part, effect, error in zip(MISFIT_PARTS, ("C(f)", "C(p)", "C(p):C(f)"), ("C(s):C(f)", "C(s):C(p)", "Residual")):
        df1, df2 = float(a.loc[effect, "df"]), float(a.loc[error, "df"])
        F = float(ms[effect] / ms[error]) if df2 > 0 and ms[error] > 0 else np.nan
        rows[part] = {"F": F, "df": df1, "df_error": df2, "p": float(f_dist.sf(F, df1, df2)) if np.isfinite(F) else np.nan}
    return pd.DataFrame(rows).T[["F", "df", "df_error", "p"]].astype(float)


def misfit_p(tests: pd.DataFrame) -> float:
    """One p-value for "the form misses": the smallest part's, times the number of parts
    (Bonferroni); nan without replicates."""
    ps = tests["p"].dropna()
    return float(min(1.0, ps.min() * len(MISFIT_PARTS))) if len(ps) else np.nan


def misfit_text(tests: pd.DataFrame) -> str:
    """The tests' p-values as people read them: "f / p / p × f (the rule's p)", or "no
    replicates"."""
    if not tests["p"].notna().all():
        return "no replicates"
    return " / ".join(f"{v:.2g}" for v in tests["p"]) + f" ({misfit_p(tests):.2g})"


def noise_draw(rng: np.random.Generator, design: pd.DataFrame, noise: GapNoise) -> np.ndarray:
    """One draw of log-loss noise for the (p, f, seed) rows of ``design``, with the parts
    of ``noise``: an offset per seed, per (seed, f), per (seed, p) and per (p, f) cell,
    and each row's own scatter."""
    P, F = design["pretrain_tokens"].to_numpy(float), design["tokens"].to_numpy(float)
    seeds = design["seed"].to_numpy()

    def offsets(keys, sigma):
        codes, uniques = pd.factorize(pd.MultiIndex.from_arrays(keys) if len(keys) > 1 else keys[0])
        return rng.normal(0.0, sigma, len(uniques))[codes]

    return (offsets([seeds], noise.seed) + offsets([seeds, F], noise.seed_f) + offsets([seeds, P], noise.seed_p)
            + offsets([P, F], noise.cell) + rng.normal(0.0, noise.within, len(design)))


@single_threaded
def statistic_at(P, F, L, g: float, profile: bool = False):
    """G's profile statistic at ``g`` for one set of runs, fitted as ``fit_barnett`` fits
    them: 4(S(G = g) − Ŝ)/(√(2π)·σ̂), on the χ²₁ scale of the interval. The fit held at
    ``g`` starts from the best fit only (the book's profile also starts from neighbouring
    grid values), which can only raise the statistic: a conservative reading. With
    ``profile=True``, (statistic, G's profile as the book walks it: value, stat)."""
    form = LAWS["barnett"]
    x_hat, _ = _fit_once(form, P, F, L, _starts(form, L))
    j = form.params.index("G")
    x_fix, s_fix = _fit_fixed(form, P, F, L, j, np.log(g), x_hat)
    s_hat = min(_abs_dev(form, x_hat, P, F, L), s_fix)  # the fixed fit may find the better optimum
    scale = lr_scale(form, P, F, L, x_hat)
    stat = float((s_fix - s_hat) / scale)
    if not profile:
        return stat
    _, _, prof = _profile_on_grid(form, P, F, L, x_hat, j, gap_grid(L))
    prof = pd.DataFrame({"value": prof["value"], "stat": (prof["abs_dev"] - s_hat) / scale})
    return stat, prof.assign(estimate=float(np.exp(x_hat[j])))


def closes(prof: pd.DataFrame, critical: float) -> bool:
    """Whether G's interval at ``critical`` closes on both sides: walking out from the
    estimate, the profile exceeds the critical value below it and above it."""
    g_hat = float(prof["estimate"].iloc[0])
    below, above = prof[prof["value"] < g_hat], prof[prof["value"] > g_hat]
    return bool((below["stat"] > critical).any() and (above["stat"] > critical).any())


def points_sha(pts: pd.DataFrame) -> str:
    """A hash of the fine-tunes one size's fit reads: (p, f, seed, loss), in a fixed order."""
    rows = sorted(zip(*(pts[c].astype(float).tolist() for c in ("pretrain_tokens", "tokens", "seed", "loss"))))
    return hashlib.sha256(json.dumps([CALIBRATION_VERSION, rows]).encode()).hexdigest()[:20]


def calibrate_gap(pts: pd.DataFrame, n_params: float, draws: int = CALIBRATION_DRAWS, seed: int = 0,
                  progress=None, closure: bool = False, design: pd.DataFrame | None = None,
                  noise: GapNoise | None = None) -> dict:
    """The profile statistic at the true G over ``draws`` synthetic studies like this
    size's runs: the truth is the fit's point estimate, the noise the parts of its
    residuals (``residual_noise``: the lack of fit enters as an offset per (p, f) cell that
    every seed shares, so more seeds do not average it away), the design the (p, f, seed)
    points as run. Returns the
    quantiles, the coverage of the χ²₁ interval (the share of draws whose statistic at the
    truth is under 3.84) and ``critical``, the 95th percentile (never below 3.84: a
    deliberately conservative rule). The seed offset is drawn at its estimate: a larger
    offset enters σ̂ and lowers the statistic, so an underestimate errs on the safe side
    (benchmarks/README.md). ``closure=True`` also walks each draw's G profile (slower) and adds how often the interval closes and,
    among the draws where it does, how often it covers the truth, at 3.84 and at the
    calibrated critical value.

    What-if designs (``benchmarks/gap_power.py``): ``design``, other (p, f, seed) rows to
    draw on (default: ``pts``'s own), and ``noise``, other noise parts (default: those of
    the fit's residuals); the truth is still the fit to ``pts``."""
    from .records import git_commit

    form = LAWS["barnett"]
    truth = fit_barnett(pts, n_boot=0, n_params=float(n_params))
    what_if = design is not None or noise is not None
    noise = residual_noise(truth, pts) if noise is None else noise
    design = pts if design is None else design
    g_true = float(truth.params["G"])
    P, F = design["pretrain_tokens"].to_numpy(float), design["tokens"].to_numpy(float)
    mu = form.fn(truth.params, P, F)
    rng = np.random.default_rng(seed)
    stats, profiles, t0 = [], [], time.perf_counter()
    for _ in (progress(range(draws)) if progress else range(draws)):
        out = statistic_at(P, F, mu * np.exp(noise_draw(rng, design, noise)), g_true, profile=closure)
        stats.append(out[0] if closure else out)
        if closure:
            profiles.append(out[1])
    st = np.array(stats)
    q50, q90, q95 = (float(q) for q in np.quantile(st, [0.5, 0.9, 0.95]))
    extra = {}
    for name, c in (("chi2", CHI2_1_95), ("calibrated", max(CHI2_1_95, q95))) if closure else ():
        closed = np.array([closes(p, c) for p in profiles])
        extra[f"closed_{name}"] = int(closed.sum())
        extra[f"closed_covering_{name}"] = int((closed & (st <= c)).sum())
    return {"N": float(n_params), "points_sha": points_sha(pts), "runs": int(len(design)), "G_true": g_true,
            "what_if": what_if,
            **{f"sigma_{k}": getattr(noise, k) for k in ("seed", "seed_f", "seed_p", "cell", "within")},
            "lack_of_fit_F": noise.lof_F, "lack_of_fit_p": noise.lof_p, "draws": int(draws), "seed": int(seed),
            "coverage_chi2": float(np.mean(st <= CHI2_1_95)), "q50": q50, "q90": q90, "q95": q95,
            "critical": max(CHI2_1_95, q95), "wall_s": round(time.perf_counter() - t0, 1),
            "git_commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}


def gap_critical(entry: dict | None) -> float:
    """The critical value a calibration entry gives (χ²₁'s 3.84 where there is none)."""
    return float(entry["critical"]) if entry else CHI2_1_95


def _valid_entry(e) -> bool:
    """An entry the book may use: its size, its runs' hash and a finite critical value no
    lower than χ²₁'s (a hand-edited file must not narrow an interval), not drawn on a
    what-if design."""
    try:
        return (isinstance(e, dict) and isinstance(e.get("points_sha"), str) and np.isfinite(float(e["N"]))
                and np.isfinite(float(e["critical"])) and float(e["critical"]) >= CHI2_1_95
                and not e.get("what_if"))
    except (KeyError, TypeError, ValueError):
        return False


def calibration_path(results: str | Path, source: str, target: str, profile: str) -> Path:
    return Path(results) / "calibration" / f"gap-{source}-{target}-{profile}.json"


def write_gap_calibration(results: str | Path, source: str, target: str, profile: str,
                          entries: list[dict], command: str = "") -> Path:
    """Store the entries (one per size) with their provenance; entries of other sizes
    already in the file are kept when the file is of this calibration version. A file
    that cannot be read is kept beside the new one (``.unreadable``), not overwritten."""
    from .records import git_commit, hardware

    what_if = [e["N"] for e in entries if e.get("what_if")]
    if what_if:
        raise InputError(f"the calibration entries at N = {what_if} were drawn on a what-if design or noise "
                         "(calibrate_gap's design/noise), not on the runs as they are: they are not the fits' "
                         "calibration; draw them without design= and noise= to store them")
    path = calibration_path(results, source, target, profile)
    old, problem = read_gap_calibration(results, source, target, profile)
    if "cannot be read" in problem:
        path.replace(path.with_name(path.name + ".unreadable"))
    old.update({float(e["N"]): e for e in entries})
    doc = {"what": "calibration of the transfer gap's profile interval (transfer_laws.gap.calibrate_gap)",
           "version": CALIBRATION_VERSION, "source": source, "target": target, "profile": profile,
           "provenance": {"git_commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          "hardware": hardware("cpu") + ", fits single-threaded",
                          "command": command},
           "sizes": [old[n] for n in sorted(old)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return path


def read_gap_calibration(results: str | Path, source: str, target: str, profile: str) -> tuple[dict[float, dict], str]:
    """(entries by N, a note): the stored calibration of a study, and what is wrong with the
    file if it cannot be read (then no entries). Whether an entry still matches its runs is
    checked by the caller (``points_sha``)."""
    path = calibration_path(results, source, target, profile)
    if not path.exists():
        return {}, ""
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("sizes"), list):
            raise ValueError("not a calibration document (a dict with a list of sizes)")
        if doc.get("version") != CALIBRATION_VERSION:
            return {}, (f"{path} is from calibration version {doc.get('version')}, not {CALIBRATION_VERSION}: "
                        f"rerun benchmarks/gap_calibration.py --write")
        bad = [e for e in doc["sizes"] if not _valid_entry(e)]
        if bad:
            raise ValueError(f"{len(bad)} entr{'y' if len(bad) == 1 else 'ies'} without a size, a runs hash or a "
                             f"finite critical value of at least {CHI2_1_95}")
        return {float(e["N"]): e for e in doc["sizes"]}, ""
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {}, f"{path} cannot be read ({e}): rerun benchmarks/gap_calibration.py --write to replace it"


def gap_points(runs: pd.DataFrame) -> dict[float, pd.DataFrame]:
    """What the transfer-gap law is fitted to at each model size: its fine-tunes, every
    seed's, at the sizes with two or more values of p."""
    ft = runs[runs["kind"] == "finetune"]
    return {float(n): pts.reset_index(drop=True) for n, pts in ft.groupby("n_params")
            if pts["pretrain_tokens"].nunique() >= 2}


def study_gap_fits(sd, results=None) -> list[GapFit]:
    """One ``GapFit`` per model size of the study with fine-tunes at 2 or more values of p,
    each G interval at its calibrated critical value where ``results`` holds a current
    calibration. ``results``: where the fit cache and calibrations live (None: neither)."""
    from .analysis import cached_fit

    pair = f"{sd.source} → {sd.target} ({sd.profile})"
    calibrations, bad_file = (read_gap_calibration(results, sd.source, sd.target, sd.profile) if results is not None
                              else ({}, ""))
    size_of = {float(r["result"]["n_params"]): r["config"]["n_target"] for r in getattr(sd, "records", [])}
    missing = {c["n_target"] for c in getattr(sd, "unrecorded", []) if c["kind"] == "finetune"}
    out = []
    for n, pts in gap_points(sd.runs).items():
        entry = calibrations.get(n)
        complete = size_of.get(n) not in missing
        note = bad_file
        if entry is not None and entry.get("points_sha") != points_sha(pts):
            entry, note = None, ("its runs changed since G's interval was calibrated: χ²₁'s 3.84 is used; rerun "
                                 "benchmarks/gap_calibration.py --write")
        elif entry is None and not bad_file and results is not None:
            note = "G's interval is not calibrated on the design (χ²₁'s 3.84): run benchmarks/gap_calibration.py --write"
        crit = gap_critical(entry)
        try:
            fit = (cached_fit(results, "barnett", pts, fit_gap_at_size, n_params=n, g_critical=crit)
                   if results is not None else fit_gap_at_size(pts, n, crit))
            out.append(GapFit(pair, sd.source, sd.target, sd.profile, n, fit, pts, note, entry, complete))
        except InputError as e:
            out.append(GapFit(pair, sd.source, sd.target, sd.profile, n, None, pts,
                              "; ".join(x for x in (str(e), note) if x), entry, complete))
    return out


def gap_table(fits: list[GapFit]) -> pd.DataFrame:
    """One row per (pair, N): G with its 95% profile interval (0 / inf at an end the data
    do not bound), the range searched, whether both ends are bounded, and the curvature
    test that says whether G is identifiable at all; the law's lack-of-fit test against
    the seed replicates (``misfit_tests`` by part, ``misfit_p`` and ``form_rejected`` from them; the pooled ``GapNoise`` F beside), the seeds read, and ``complete``: whether every
    planned fine-tune at the size has a record (a fit read before is provisional)."""
    rows = []
    for g in fits:
        cal = g.calibration or {}
        row = {"pair": g.pair, "source": g.source, "target": g.target, "profile": g.profile, "N": g.n_params,
               "runs": len(g.points), "bounded": g.bounded, "note": g.note, "critical": g.critical,
               "coverage_chi2": cal.get("coverage_chi2", np.nan), "calibration_draws": cal.get("draws", 0),
               "complete": g.complete, "seeds": int(g.points["seed"].nunique())}
        if g.fit is not None:
            z = g.noise
            m, rule = g.misfit, misfit_p(g.misfit)
            row.update({"lack_of_fit_F": z.lof_F, "lack_of_fit_p": z.lof_p,
                        **{f"misfit_p_{k}": m.loc[part, "p"] for k, part in zip(("f", "p", "pf"), MISFIT_PARTS)},
                        "misfit_p": rule, "form_rejected": bool(rule < 0.05),
                        "sigma_cell": z.cell, "sigma_within": z.within})
            ci = g.fit.conf_int()
            prof = g.fit.info["profiles"]["G"]["value"]
            row.update({"G": float(g.fit.params["G"]), "G_low": float(ci.loc["G", 0]), "G_high": float(ci.loc["G", 1]),
                        "G_searched_low": float(prof.min()), "G_searched_high": float(prof.max()),
                        "curvature": g.fit.info["curvature_test"]["verdict"], "beta": float(g.fit.params["beta"]),
                        "f_values": tuple(sorted(g.points["tokens"].astype(float).unique())),
                        "G_profile": g.g_profile()})
        rows.append(row)
    cols = ["pair", "source", "target", "profile", "N", "runs", "seeds", "complete", "G", "G_low", "G_high",
            "G_searched_low", "G_searched_high", "bounded", "critical", "coverage_chi2", "calibration_draws",
            "lack_of_fit_F", "lack_of_fit_p", "misfit_p_f", "misfit_p_p", "misfit_p_pf", "misfit_p", "form_rejected", "sigma_cell", "sigma_within", "curvature", "beta",
            "f_values", "G_profile", "note"]
    return pd.DataFrame(rows, columns=cols)
