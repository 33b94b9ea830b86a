"""Is D_T a power law in D_F and N? A test of the form inside the loss-space fit.

The loss-space fit (``hernandez_loss``) is extended by a square of each regressor in
the exponent of D_T:

    ln D_T = ln k + α·ln D_F + β·ln N + γ_D·(ln D_F − c_D)² + γ_N·(ln N − c_N)²

(c: the fine-tunes' mean), every run entering as in the Table 1 fit, none selected on
its outcome. A power law has γ = 0; a γ changes the local exponent (d ln D_T / d ln D_F
for γ_D) by 2γR across the measured range R of its regressor, which is the quantity a
claim about the form is judged on (``drift``). Intervals: profile likelihood, with the
same threshold F(1, ν)·max(1, φ) as the Table 1 fit. A term is left out where its
regressor has fewer than 3 distinct values among the fine-tunes.

Whether the numbers mean anything is recorded in ``info["checks"]`` (``fit_checks``):
the power-law fit and the curved fit each converged (no trial point scored as
overflowed, a further solve from the solution lowers the deviance by less than 1% of the
profile threshold, the transfer constants moved from the start they were fitted from),
no fine-tune's exponent of D_T sits at the ±50 clip, and the curved fit did not fall
back to γ = 0 because it ended worse than the power law it nests. A failed check means
the fit, not the law, is what the numbers describe.

Checked on the synthetic cpu design with a true power law (``synthetic.design_runs``,
30 draws): the drift interval excluded 0 in 1 draw for D_F and 2 for N, as a 95%
interval should.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import f as f_dist

from ..errors import InputError
from .hernandez import design_rows
from scipy.optimize import least_squares

from .hernandez_loss import Problem, _solve, _starts, fit_loss_space, prepare, profile_interval
from .results import FitResults, single_threaded
from .runs_table import read_runs


@dataclass
class CurvedProblem(Problem):
    """``Problem`` with squared terms appended to x: one per entry of ``terms``
    (``"D_F"``, ``"N"``), shared by all sources."""

    terms: tuple = ()
    centre: tuple = ()

    @property
    def n_params(self) -> int:
        return 3 * len(self.sizes) + 3 * len(self.sources) + len(self.terms)

    def _squares(self, ft: np.ndarray) -> list[np.ndarray]:
        out = []
        for t, c in zip(self.terms, self.centre):
            v = np.log(self.D[ft]) if t == "D_F" else np.log(self.Nz[ft])
            out.append((v - c) ** 2)
        return out

    def predict(self, x: np.ndarray, jac: bool = False):
        nS, nT = len(self.sizes), len(self.terms)
        base = x[:len(x) - nT] if nT else x
        E, B, b = (np.exp(base[i:3 * nS:3])[self.size_idx] for i in range(3))
        ft = self.src_idx >= 0
        T = np.zeros(len(self.y))
        sq = self._squares(ft)
        if ft.any():
            lk, al, be = (base[3 * nS + i::3][self.src_idx[ft]] for i in range(3))
            lx, lz = np.log(self.D[ft]), np.log(self.Nz[ft])
            expo = lk + al * lx + be * lz + sum(g * s for g, s in zip(x[len(x) - nT:], sq))
            with np.errstate(over="ignore"):
                T[ft] = np.exp(np.clip(expo, -50, 50))
        De = self.D + T
        u = De ** (-b)
        pred = E + B * u
        if not jac:
            return pred
        J = np.zeros((len(self.y), len(x)))
        rows = np.arange(len(self.y))
        J[rows, 3 * self.size_idx] = E
        J[rows, 3 * self.size_idx + 1] = B * u
        J[rows, 3 * self.size_idx + 2] = -b * np.log(De) * B * u
        if ft.any():
            dDe = -b[ft] * B[ft] * u[ft] / De[ft]
            col = 3 * nS + 3 * self.src_idx[ft]
            r = rows[ft]
            J[r, col] = dDe * T[ft]
            J[r, col + 1] = dDe * T[ft] * lx
            J[r, col + 2] = dDe * T[ft] * lz
            for j, s in enumerate(sq):
                J[r, len(x) - nT + j] = dDe * T[ft] * s
        return pred, J


EXPONENT_CLIP = 50.0  # Problem.predict clips the exponent of D_T here
SENTINEL = 1e6  # Problem.residuals scores an overflowed trial point this


def _exponents(prob: Problem, x: np.ndarray) -> np.ndarray:
    """ln D_T (unclipped) of every fine-tune at x."""
    nS = len(prob.sizes)
    nT = len(getattr(prob, "terms", ()))
    base = x[:len(x) - nT] if nT else x
    ft = prob.src_idx >= 0
    lk, al, be = (base[3 * nS + i::3][prob.src_idx[ft]] for i in range(3))
    expo = lk + al * np.log(prob.D[ft]) + be * np.log(prob.Nz[ft])
    if nT:
        expo = expo + sum(g * s for g, s in zip(x[len(x) - nT:], prob._squares(ft)))
    return expo


def _converged(prob: Problem, x: np.ndarray, dev: float, limit: float) -> str:
    """'' if x is a converged optimum of prob, else what is wrong with it."""
    if np.any(np.abs(prob.residuals(x)) >= SENTINEL):
        return "a run's prediction overflowed at the solution"
    r = least_squares(prob.residuals, x, jac=prob.jacobian, method="lm", x_scale="jac", max_nfev=500)
    if dev - 2 * r.cost > 0.01 * limit:
        return f"a further solve from the solution lowered the deviance by {dev - 2 * r.cost:.3g}"
    return ""


def fit_checks(base_prob: Problem, base_x: np.ndarray, base_dev: float, rows: pd.DataFrame, cp: Problem,
               x: np.ndarray, dev: float, limit: float, fallback: bool) -> dict[str, str]:
    """{check: '' if passed, else what failed}."""
    starts = _starts(base_prob, rows)
    nS = 3 * len(base_prob.sizes)
    at_start = any(np.allclose(base_x[nS:], s[nS:], rtol=0, atol=1e-9) for s in starts)
    clip = max(float(np.max(np.abs(_exponents(base_prob, base_x)))), float(np.max(np.abs(_exponents(cp, x)))))
    return {
        "power-law fit converged": _converged(base_prob, base_x, base_dev, limit)
        or ("it returned the start values of its transfer constants" if at_start else ""),
        "no exponent at the clip": (f"a fine-tune's exponent of D_T reached {clip:.3g}, at the ±{EXPONENT_CLIP:g} clip"
                                    if clip >= EXPONENT_CLIP - 1e-6 else ""),
        "curved fit converged": _converged(cp, x, dev, limit) if not fallback else "",
        "curved fit no worse than the power law": ("the curved fit ended worse than the power law it nests, so γ "
                                                   "was set to 0" if fallback else ""),
    }


@single_threaded
def test_power_law(runs, source: str | None = None, pretrain_tokens: float | None = None) -> FitResults:
    """γ_D, γ_N and the exponent drifts 2γR with 95% profile intervals (``conf_int()``),
    from a runs table restricted by the design rules like ``fit_hernandez``."""
    kept, left_out, p, sources = design_rows(read_runs(runs), pretrain_tokens, None if source is None else [source])
    rows, sizes, D0, N0 = prepare(kept, sources)
    base = fit_loss_space(rows, sizes, sources, D0, N0)
    prob = base.prob
    ft = prob.src_idx >= 0
    terms, centre, ranges = [], [], []
    for t, v in (("D_F", np.log(prob.D[ft])), ("N", np.log(prob.Nz[ft]))):
        if len(np.unique(np.round(v, 9))) >= 3:
            terms.append(t)
            centre.append(float(v.mean()))
            ranges.append(float(np.ptp(v)))
    if not terms:
        raise InputError("the power-law test needs 3 or more distinct D_F or N among the fine-tunes.")
    cp = CurvedProblem(**{k: getattr(prob, k) for k in prob.__dataclass_fields__}, terms=tuple(terms),
                       centre=tuple(centre))
    x, dev = _solve(cp, np.r_[base.x, np.zeros(len(terms))])
    fallback = dev > base.deviance
    if fallback:  # the extension nests the power law: never worse than it
        x, dev = np.r_[base.x, np.zeros(len(terms))], base.deviance
    dof = max(int((~cp.censored).sum()) + int(cp.censored.sum()) - cp.n_params, 1)
    disp = dev / dof
    nu = base.noise.cluster_df.get("finetune") if base.noise.cluster.get("finetune", 0) > 0 else dof
    limit = float(f_dist.ppf(0.95, 1, nu)) * max(1.0, disp)
    params, ends, profiles = {}, {}, {}
    for j, (t, R) in enumerate(zip(terms, ranges)):
        a = np.zeros(cp.n_params)
        a[cp.n_params - len(terms) + j] = 1.0
        lo, hi, table = profile_interval(cp, x, dev, a, limit)
        g = float(x[cp.n_params - len(terms) + j])
        params[f"gamma_{t}"], ends[f"gamma_{t}"] = g, (lo, hi)
        params[f"drift_{t}"], ends[f"drift_{t}"] = 2 * R * g, (2 * R * lo, 2 * R * hi)
        profiles[f"drift_{t}"] = table.assign(value=2 * R * table["value"])
    info = {"method": "loss-space fit with squared terms in the exponent of D_T", "terms": terms,
            "ranges": dict(zip(terms, ranges)), "deviance_power_law": float(base.deviance), "deviance": float(dev),
            "dispersion": float(disp), "profile_threshold": limit, "profile_df": nu, "profiles": profiles,
            "checks": fit_checks(prob, base.x, base.deviance, rows, cp, x, dev, limit, fallback), "n_runs": int(len(rows)),
            "n_finetune": int(ft.sum()), "seeds": int(rows["seed"].nunique()), "pretrain_tokens": p,
            "left out": left_out}
    return FitResults("power_law_test", pd.Series(params), None, None, info, None,
                      pd.DataFrame(ends, index=[0, 1]).T, reported="profile")
