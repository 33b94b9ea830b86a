"""The transfer gap of one study at every model size that has a grid of p.

``study_gap_fits`` fits the Barnett form with profile intervals at each size with 2 or
more pre-training sizes (the law has no N term, so G is fitted and reported per N), once
per book build (``analysis.cached_fit``); ``gap_table`` flattens the fits into one row
per (pair, N) with G's interval and whether the data bound it on both sides, β (G is in
loss·tokens^β, so pairs compare as G·f^−β at a shared f), the D_F values fitted, and G's
profile on the χ²₁ scale (``GapFit.g_profile``) from which intervals of ratios between
pairs are built (``claims.log_ratio_interval``). Every page that ranks pairs by G or
draws an allocation reads ``bounded`` from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError
from .laws import fit_barnett


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
        (``barnett._profile_limit``)."""
        if self.fit is None or "profiles" not in self.fit.info:
            return None
        prof = self.fit.info["profiles"]["G"]
        n, k = self.fit.info["n_points"], len(self.fit.params)
        sigma = self.fit.info["rmse_log_loss"] * np.sqrt(n / max(n - k, 1))
        stat = 4 * (prof["abs_dev"] - prof["abs_dev"].min()) / (np.sqrt(2 * np.pi) * sigma)
        return pd.DataFrame({"value": prof["value"].to_numpy(float), "stat": stat.to_numpy(float)})


def fit_gap_at_size(pts: pd.DataFrame, n_params: float):
    """The Barnett law at one model size with profile intervals, as every page fits it."""
    return fit_barnett(pts, n_boot=0, profile=True, n_params=n_params)


def study_gap_fits(sd, results=None) -> list[GapFit]:
    """One ``GapFit`` per model size of the study with fine-tunes at 2 or more values of p.
    ``results``: where the fit cache lives (None: no cache)."""
    from .analysis import cached_fit

    ft = sd.runs[sd.runs["kind"] == "finetune"]
    pair = f"{sd.source} → {sd.target} ({sd.profile})"
    out = []
    p_count = ft.groupby("n_params")["pretrain_tokens"].nunique()
    for n in [n for n, c in p_count.items() if c >= 2]:
        pts = ft[ft["n_params"] == n].reset_index(drop=True)
        try:
            fit = (cached_fit(results, "barnett", pts, fit_gap_at_size, n_params=float(n)) if results is not None
                   else fit_gap_at_size(pts, float(n)))
            out.append(GapFit(pair, sd.source, sd.target, sd.profile, float(n), fit, pts))
        except InputError as e:
            out.append(GapFit(pair, sd.source, sd.target, sd.profile, float(n), None, pts, str(e)))
    return out


def gap_table(fits: list[GapFit]) -> pd.DataFrame:
    """One row per (pair, N): G with its 95% profile interval (0 / inf at an end the data
    do not bound), the range searched, whether both ends are bounded, and the curvature
    test that says whether G is identifiable at all."""
    rows = []
    for g in fits:
        row = {"pair": g.pair, "source": g.source, "target": g.target, "profile": g.profile, "N": g.n_params,
               "runs": len(g.points), "bounded": g.bounded, "note": g.note}
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
            "G_searched_high", "bounded", "curvature", "beta", "f_values", "G_profile", "note"]
    return pd.DataFrame(rows, columns=cols)
