"""From-scratch loss vs data, per model size, and the joint forms it is compared with.

Per N we fit ``L_N(D) = E_N + B_N · D^(−b_N)`` (E_N, B_N, b_N > 0), which is monotone
decreasing in D by construction, so it can be inverted: D_E is the D at which the
from-scratch curve of that N reaches a given loss. Where a size has too few points
for three constants, or the fit fails, a monotone interpolation of log-loss against
log D is used instead (``method == 'interpolate'``), which cannot extrapolate.

The joint forms (Kaplan, Chinchilla) and the held-out comparison of every candidate
are in ``scratch_law``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from ..errors import InputError


@dataclass
class ScratchCurve:
    n_params: float
    E: float
    B: float
    b: float
    method: str  # power_law | interpolate
    d_min: float
    d_max: float
    loss_min: float  # lowest measured loss of this size
    loss_max: float
    points: int
    rmse: float
    _logd: np.ndarray | None = None
    _loss: np.ndarray | None = None

    def loss(self, D) -> np.ndarray:
        D = np.asarray(D, dtype=float)
        if self.method == "power_law":
            return self.E + self.B * D ** (-self.b)
        return np.interp(np.log(D), self._logd, self._loss)

    def effective_data(self, L) -> tuple[np.ndarray, np.ndarray]:
        """(D_E, extrapolated): the data at which this curve reaches loss L. Losses
        below the curve's asymptote give inf; losses outside the measured range are
        flagged as extrapolated."""
        L = np.atleast_1d(np.asarray(L, dtype=float))
        extrap = (L < self.loss_min) | (L > self.loss_max)
        if self.method == "power_law":
            with np.errstate(divide="ignore", invalid="ignore"):
                D = np.where(L > self.E, (self.B / (L - self.E)) ** (1 / self.b), np.inf)
        else:
            # interpolation: loss decreasing in log D; invert by interpolating the reverse
            order = np.argsort(self._loss)
            D = np.exp(np.interp(L, self._loss[order], self._logd[order], left=np.inf, right=-np.inf))
        return D, extrap

    def data_to_saturate(self, within: float = 0.01) -> float:
        """D(N): the data this size needs to come within ``within`` of its
        infinite-data loss E_N."""
        if self.method != "power_law":
            return float(self.d_max)
        return float((self.B / (within * self.E)) ** (1 / self.b))


def _isotonic_decreasing(y: np.ndarray) -> np.ndarray:
    """Pool-adjacent-violators for a non-increasing sequence."""
    blocks = [[v, 1] for v in y]
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] < blocks[i + 1][0]:
            v = (blocks[i][0] * blocks[i][1] + blocks[i + 1][0] * blocks[i + 1][1]) / (blocks[i][1] + blocks[i + 1][1])
            blocks[i] = [v, blocks[i][1] + blocks[i + 1][1]]
            del blocks[i + 1]
            i = max(i - 1, 0)
        else:
            i += 1
    return np.concatenate([[v] * n for v, n in blocks])


SOFT_L1_SCALE = 0.01


@dataclass
class _Solution:
    x: np.ndarray
    cost: float
    success: bool


def _irls_lm(resid, jac, x: np.ndarray, iters: int = 50) -> _Solution:
    """Levenberg-Marquardt with soft-L1 weights recomputed each step (IRLS): the same
    estimator as least_squares(loss='soft_l1'), ~20x cheaper for a warm start, which
    is what makes a 1,000-resample bootstrap affordable."""
    lam = 1e-3

    def cost_of(r):
        return float(np.sum(2 * SOFT_L1_SCALE**2 * (np.sqrt(1 + (r / SOFT_L1_SCALE) ** 2) - 1)))

    r = resid(x)
    cost = cost_of(r)
    for _ in range(iters):
        w = 1 / np.sqrt(np.sqrt(1 + (r / SOFT_L1_SCALE) ** 2))
        J = jac(x) * w[:, None]
        A = J.T @ J
        g = J.T @ (r * w)
        try:
            step = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), -g)
        except np.linalg.LinAlgError:
            return _Solution(x, cost, False)
        xn = x + step
        rn = resid(xn)
        cn = cost_of(rn) if np.all(np.isfinite(rn)) else np.inf
        if cn < cost:
            x, r, cost, lam = xn, rn, cn, lam * 0.3
            if np.max(np.abs(step)) < 1e-7:
                break
        else:
            lam *= 10
            if lam > 1e8:
                break
    return _Solution(x, cost, bool(np.isfinite(cost)))


def fit_curve(D: np.ndarray, L: np.ndarray, n_params: float, start: ScratchCurve | None = None) -> ScratchCurve:
    """Fit one size's curve; ``start`` (a previous fit) replaces the grid of starting
    points with that single start, which is what bootstrap resamples use."""
    D, L = np.asarray(D, float), np.asarray(L, float)
    order = np.argsort(D)
    D, L = D[order], L[order]
    if len(D) < 2:
        raise InputError(f"N={n_params:.3g}: a from-scratch curve needs at least 2 sizes D to invert, got {len(D)}.")
    common = dict(n_params=float(n_params), d_min=float(D.min()), d_max=float(D.max()),
                  loss_min=float(L.min()), loss_max=float(L.max()), points=len(D))
    if len(D) >= 4:
        logd = np.log(D)

        def resid(x):
            E, B, b = np.exp(x[0]), np.exp(x[1]), np.exp(x[2])
            return np.log(E + B * D ** (-b)) - np.log(L)

        def jac(x):  # d resid / d log-parameters
            E, B, b = np.exp(x[0]), np.exp(x[1]), np.exp(x[2])
            t = B * D ** (-b)
            pred = E + t
            return np.column_stack([E / pred, t / pred, -t * b * logd / pred])

        if start is not None and start.method == "power_law":
            x0s = [[np.log(start.E), np.log(start.B), np.log(start.b)]]
        else:
            x0s = []
            for b0 in (0.1, 0.3, 0.6):
                for efrac in (0.5, 0.8, 0.95):
                    E0 = efrac * L.min()
                    x0s.append([np.log(E0), np.log(max((L.max() - E0) * D.min() ** b0, 1e-6)), np.log(b0)])
        best = None
        if start is not None and start.method == "power_law":
            best = _irls_lm(resid, jac, np.asarray(x0s[0], float))
        for x0 in x0s if best is None else []:
            try:
                r = least_squares(resid, x0=x0, jac=jac, loss="soft_l1", f_scale=SOFT_L1_SCALE)
            except (ValueError, FloatingPointError):
                continue
            if best is None or r.cost < best.cost:
                best = r
        if best is not None and best.success:
            E, B, b = np.exp(best.x)
            rmse = float(np.sqrt(np.mean(resid(best.x) ** 2)))
            if 1e-3 < b < 5 and np.isfinite(E):
                return ScratchCurve(E=float(E), B=float(B), b=float(b), method="power_law", rmse=rmse, **common)
    Liso = _isotonic_decreasing(L)
    return ScratchCurve(E=float("nan"), B=float("nan"), b=float("nan"), method="interpolate", rmse=0.0,
                        _logd=np.log(D), _loss=Liso, **common)


def fit_curves(runs: pd.DataFrame, starts: dict[float, ScratchCurve] | None = None) -> dict[float, ScratchCurve]:
    """One curve per model size from the scratch rows of a runs table (seeds averaged)."""
    s = runs[runs["kind"] == "scratch"]
    if "stopped" in s:  # the D_T view has no likelihood to make a censored run one-sided in: left out
        s = s[s["stopped"] != "budget"]
    if s.empty:
        raise InputError("the runs table has no scratch runs; D_E needs a from-scratch curve for each N.")
    curves = {}
    N, D, L = (s[c].to_numpy(float) for c in ("n_params", "tokens", "loss"))
    for n in np.unique(N):
        m = N == n
        d, inv = np.unique(D[m], return_inverse=True)
        loss = np.bincount(inv, weights=L[m]) / np.bincount(inv)  # seeds averaged
        curves[float(n)] = fit_curve(d, loss, n, start=(starts or {}).get(float(n)))
    return curves
