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
from a size's own fit, with the seed offset and scatter of its residuals, on the (p, f,
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
from pathlib import Path

import numpy as np
import pandas as pd

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

CALIBRATION_VERSION = 3  # bump when the law's fit or the draws change
CALIBRATION_DRAWS = 200


def residual_noise(fit, pts: pd.DataFrame) -> tuple[float, float]:
    """(σ_seed, σ_within) of the fit's log-residuals: an offset each seed's runs share (one
    pre-training pass gives every p of a seed; one D_F subset every fine-tune), and the
    scatter left, corrected for the fitted constants and the seed means. σ_seed from the
    spread of the seed means less what the within scatter puts there (floored at 0)."""
    form = LAWS["barnett"]
    r = np.log(pts["loss"].to_numpy(float)) - np.log(form.fn(fit.params, pts["pretrain_tokens"].to_numpy(float),
                                                            pts["tokens"].to_numpy(float)))
    by_seed = pd.Series(r, index=pts["seed"].to_numpy()).groupby(level=0)
    means, counts = by_seed.transform("mean").to_numpy(), by_seed.size()
    n, k, s = len(r), len(fit.params), len(counts)
    within = float(np.sqrt(np.sum((r - means) ** 2) / max(n - k - (s - 1), 1)))
    seed_means = by_seed.mean()
    if s < 2:
        return 0.0, within
    m, spread = float(counts.mean()), float(np.var(seed_means, ddof=1))
    return float(np.sqrt(max(spread - within**2 / m, 0.0))), within


def seed_noise_draw(rng: np.random.Generator, seeds: np.ndarray, sigma_seed: float,
                    sigma_within: float) -> np.ndarray:
    """One draw of log-loss noise for runs of the given seeds: an offset each seed's runs
    share, plus each run's own scatter (the noise model of ``residual_noise``)."""
    offset = {s: rng.normal(0.0, sigma_seed) for s in np.unique(seeds)}
    return np.array([offset[s] for s in seeds]) + rng.normal(0.0, sigma_within, len(seeds))


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
                  progress=None, closure: bool = False) -> dict:
    """The profile statistic at the true G over ``draws`` synthetic studies like this
    size's runs: the truth is the fit's point estimate, the noise the seed offset and
    scatter of its residuals, the design the (p, f, seed) points as run. Returns the
    quantiles, the coverage of the χ²₁ interval (the share of draws whose statistic at the
    truth is under 3.84) and ``critical``, the 95th percentile (never below 3.84: a
    deliberately conservative rule). The seed offset is drawn at its estimate: a larger
    offset enters σ̂ and lowers the statistic, so an underestimate errs on the safe side
    (benchmarks/README.md). ``closure=True`` also walks each draw's G profile (slower) and adds how often the interval closes and,
    among the draws where it does, how often it covers the truth, at 3.84 and at the
    calibrated critical value."""
    from .records import git_commit

    form = LAWS["barnett"]
    truth = fit_barnett(pts, n_boot=0, n_params=float(n_params))
    sigma_seed, sigma_within = residual_noise(truth, pts)
    g_true = float(truth.params["G"])
    P, F = pts["pretrain_tokens"].to_numpy(float), pts["tokens"].to_numpy(float)
    seeds = pts["seed"].to_numpy()
    mu = form.fn(truth.params, P, F)
    rng = np.random.default_rng(seed)
    stats, profiles, t0 = [], [], time.perf_counter()
    for _ in (progress(range(draws)) if progress else range(draws)):
        noise = seed_noise_draw(rng, seeds, sigma_seed, sigma_within)
        out = statistic_at(P, F, mu * np.exp(noise), g_true, profile=closure)
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
    return {"N": float(n_params), "points_sha": points_sha(pts), "runs": int(len(pts)), "G_true": g_true,
            "sigma_seed": sigma_seed, "sigma_within": sigma_within, "draws": int(draws), "seed": int(seed),
            "coverage_chi2": float(np.mean(st <= CHI2_1_95)), "q50": q50, "q90": q90, "q95": q95,
            "critical": max(CHI2_1_95, q95), "wall_s": round(time.perf_counter() - t0, 1),
            "git_commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}


def gap_critical(entry: dict | None) -> float:
    """The critical value a calibration entry gives (χ²₁'s 3.84 where there is none)."""
    return float(entry["critical"]) if entry else CHI2_1_95


def _valid_entry(e) -> bool:
    """An entry the book may use: its size, its runs' hash and a finite critical value no
    lower than χ²₁'s (a hand-edited file must not narrow an interval)."""
    try:
        return (isinstance(e, dict) and isinstance(e.get("points_sha"), str) and np.isfinite(float(e["N"]))
                and np.isfinite(float(e["critical"])) and float(e["critical"]) >= CHI2_1_95)
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
    out = []
    for n, pts in gap_points(sd.runs).items():
        entry = calibrations.get(n)
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
            out.append(GapFit(pair, sd.source, sd.target, sd.profile, n, fit, pts, note, entry))
        except InputError as e:
            out.append(GapFit(pair, sd.source, sd.target, sd.profile, n, None, pts,
                              "; ".join(x for x in (str(e), note) if x), entry))
    return out


def gap_table(fits: list[GapFit]) -> pd.DataFrame:
    """One row per (pair, N): G with its 95% profile interval (0 / inf at an end the data
    do not bound), the range searched, whether both ends are bounded, and the curvature
    test that says whether G is identifiable at all."""
    rows = []
    for g in fits:
        cal = g.calibration or {}
        row = {"pair": g.pair, "source": g.source, "target": g.target, "profile": g.profile, "N": g.n_params,
               "runs": len(g.points), "bounded": g.bounded, "note": g.note, "critical": g.critical,
               "coverage_chi2": cal.get("coverage_chi2", np.nan), "calibration_draws": cal.get("draws", 0)}
        if g.fit is not None:
            ci = g.fit.conf_int()
            prof = g.fit.info["profiles"]["G"]["value"]
            row.update({"G": float(g.fit.params["G"]), "G_low": float(ci.loc["G", 0]), "G_high": float(ci.loc["G", 1]),
                        "G_searched_low": float(prof.min()), "G_searched_high": float(prof.max()),
                        "curvature": g.fit.info["curvature_test"]["verdict"], "beta": float(g.fit.params["beta"]),
                        "f_values": tuple(sorted(g.points["tokens"].astype(float).unique())),
                        "G_profile": g.g_profile()})
        rows.append(row)
    cols = ["pair", "source", "target", "profile", "N", "runs", "G", "G_low", "G_high", "G_searched_low",
            "G_searched_high", "bounded", "critical", "coverage_chi2", "calibration_draws", "curvature", "beta",
            "f_values", "G_profile", "note"]
    return pd.DataFrame(rows, columns=cols)
