"""A fit's results object, in the statsmodels manner: ``params``, ``bse``,
``conf_int()``, ``summary()``, ``predict()``, plus ``to_dict()`` for JSON."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

from threadpoolctl import threadpool_limits

import numpy as np
import pandas as pd


def single_threaded(fn):
    """Fits solve thousands of tiny problems; multi-threaded BLAS only adds overhead
    there (measured 4x slower on 2 busy cores), so they run on one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(1):
            return fn(*args, **kwargs)

    return wrapper


def _bounded(end: float) -> float | None:
    """An interval end for JSON: None where the data do not bound it (infinite, or the 0
    that a profile of a positive constant reports for an open lower end)."""
    end = float(end)
    return end if np.isfinite(end) and end != 0.0 else None


@dataclass
class FitResults:
    law: str
    params: pd.Series
    bootstrap: pd.DataFrame | None = None  # one row per resample
    ols_ci: pd.DataFrame | None = None  # analytic interval, when the fit has one
    info: dict[str, Any] = field(default_factory=dict)
    predictor: Callable[..., np.ndarray] | None = None
    profile_ci: pd.DataFrame | None = None  # profile-likelihood interval, when computed
    reported: str = "bootstrap"  # the interval the project stands behind: conf_int()'s default, JSON's ci95
    asymptotic_se: pd.Series | None = None  # from the likelihood's curvature, when the fit has one


    @property
    def bse(self) -> pd.Series:
        """Standard errors: from the likelihood's curvature where the fit reports profile
        intervals and has them, else the bootstrap's spread."""
        if self.reported == "profile" and self.asymptotic_se is not None:
            return self.asymptotic_se
        if self.bootstrap is not None and len(self.bootstrap) > 1:
            return self.bootstrap.std(ddof=1)
        return pd.Series(np.nan, index=self.params.index)

    def conf_int(self, alpha: float = 0.05, method: str | None = None) -> pd.DataFrame:
        """``bootstrap``: percentile interval over resamples (of runs, or of whole seeds:
        ``info['bootstrap']`` says which); ``ols``: the analytic interval of the log-linear
        fit (D_T-space Hernandez only); ``profile``: the 95% profile-likelihood interval,
        with an infinite end (0 for a positive constant) where the data do not bound it.
        Default: ``reported``, the interval the fit stands behind."""
        method = method or self.reported
        if method == "ols":
            if self.ols_ci is None:
                raise ValueError(f"{self.law} has no analytic interval; use method='bootstrap'")
            return self.ols_ci
        if method == "profile":
            if self.profile_ci is None:
                raise ValueError(f"{self.law} was fitted without profiles; fit it with profile=True")
            if alpha != 0.05:
                raise ValueError("profile intervals are computed at the 95% level only")
            return self.profile_ci
        if self.bootstrap is None or len(self.bootstrap) < 2:
            return pd.DataFrame({0: np.nan, 1: np.nan}, index=self.params.index)
        lo = self.bootstrap.quantile(alpha / 2)
        hi = self.bootstrap.quantile(1 - alpha / 2)
        return pd.DataFrame({0: lo, 1: hi})

    def predict(self, *args, **kwargs) -> np.ndarray:
        return self.predictor(self.params, *args, **kwargs)

    def intervals(self) -> dict[str, pd.DataFrame]:
        """Every kind of 95% interval this fit has, the reported one first."""
        kinds = {"profile": self.profile_ci, "bootstrap": self.bootstrap, "ols": self.ols_ci}
        have = [k for k, v in kinds.items() if v is not None and (k != "bootstrap" or len(v) > 1)]
        return {k: self.conf_int(method=k) for k in sorted(have, key=lambda k: k != self.reported)}

    def to_dict(self) -> dict[str, Any]:
        """JSON: ``ci95`` is the reported interval; other kinds go under ``ci95_<kind>``.
        JSON has no infinity: an end the data do not bound is null."""
        def ends(ci, k):
            return [_bounded(ci.loc[k, 0]), _bounded(ci.loc[k, 1])]

        intervals = self.intervals()
        params = {}
        for k, v in self.params.items():
            entry = {"estimate": float(v), "ci95": [None, None]}
            for kind, ci in intervals.items():
                entry["ci95" if kind == self.reported else f"ci95_{kind}"] = ends(ci, k)
            params[k] = entry
        info = {k: v for k, v in self.info.items() if k != "profiles"}  # the profile tables stay in Python
        return {"law": self.law, "interval": self.reported, "params": params, **info}

    def summary(self) -> str:
        ci = self.conf_int()
        lines = [f"{self.law} fit", "=" * 60,
                 f"{'param':<8} {'estimate':>12} {'std err':>11} {'[0.025':>11} {'0.975]':>11}", "-" * 60]
        for k, v in self.params.items():
            lines.append(f"{k:<8} {v:>12.4g} {self.bse[k]:>11.3g} {ci.loc[k, 0]:>11.4g} {ci.loc[k, 1]:>11.4g}")
        lines.append("-" * 60)
        lines.insert(1, f"95% intervals: {self.reported}" + (f" ({self.info['bootstrap']})" if self.reported == "bootstrap"
                                                                and "bootstrap" in self.info else ""))
        if self.profile_ci is not None and self.reported != "profile":
            lines.append("95% profile-likelihood intervals (0 or inf: an end the data do not bound):")
            for k in self.params.index:
                lines.append(f"{k:<8} [{self.profile_ci.loc[k, 0]:.4g}, {self.profile_ci.loc[k, 1]:.4g}]")
            lines.append("-" * 60)
        for k, v in self.info.items():
            if isinstance(v, (int, float, str)):
                lines.append(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
        for key, verb in (("left out", "left out by design rule"), ("dropped", "dropped by")):
            for rule, n in self.info.get(key, {}).items():
                lines.append(f"{verb} {rule}: {n}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()
