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


@dataclass
class FitResults:
    law: str
    params: pd.Series
    bootstrap: pd.DataFrame | None = None  # one row per resample
    ols_ci: pd.DataFrame | None = None  # analytic interval, when the fit has one
    info: dict[str, Any] = field(default_factory=dict)
    predictor: Callable[..., np.ndarray] | None = None
    profile_ci: pd.DataFrame | None = None  # profile-likelihood interval, when computed

    @property
    def bse(self) -> pd.Series:
        if self.bootstrap is not None and len(self.bootstrap) > 1:
            return self.bootstrap.std(ddof=1)
        return pd.Series(np.nan, index=self.params.index)

    def conf_int(self, alpha: float = 0.05, method: str = "bootstrap") -> pd.DataFrame:
        """``bootstrap``: percentile interval over resampled runs; ``ols``: the
        analytic interval of the log-linear fit (Hernandez law only); ``profile``: the
        95% profile-likelihood interval (transfer-gap laws fitted with ``profile=True``),
        with 0 or infinity for an end the data do not bound."""
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

    def to_dict(self) -> dict[str, Any]:
        ci = self.conf_int()
        params = {k: {"estimate": float(v), "ci95": [float(ci.loc[k, 0]), float(ci.loc[k, 1])]}
                  for k, v in self.params.items()}
        if self.profile_ci is not None:  # JSON has no infinity: an unbounded end is null
            for k, entry in params.items():
                entry["ci95_profile"] = [float(e) if np.isfinite(e) and e > 0 else None for e in self.profile_ci.loc[k]]
        info = {k: v for k, v in self.info.items() if k != "profiles"}  # the profile tables stay in Python
        return {"law": self.law, "params": params, **info}

    def summary(self) -> str:
        ci = self.conf_int()
        lines = [f"{self.law} fit", "=" * 60,
                 f"{'param':<8} {'estimate':>12} {'std err':>11} {'[0.025':>11} {'0.975]':>11}", "-" * 60]
        for k, v in self.params.items():
            lines.append(f"{k:<8} {v:>12.4g} {self.bse[k]:>11.3g} {ci.loc[k, 0]:>11.4g} {ci.loc[k, 1]:>11.4g}")
        lines.append("-" * 60)
        if self.profile_ci is not None:
            lines.append("95% profile-likelihood intervals (0 or inf: an end the data do not bound):")
            for k in self.params.index:
                lines.append(f"{k:<8} [{self.profile_ci.loc[k, 0]:.4g}, {self.profile_ci.loc[k, 1]:.4g}]")
            lines.append("-" * 60)
        for k, v in self.info.items():
            if isinstance(v, (int, float, str)):
                lines.append(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
        if "dropped" in self.info:
            for rule, n in self.info["dropped"].items():
                lines.append(f"dropped by {rule}: {n}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()
