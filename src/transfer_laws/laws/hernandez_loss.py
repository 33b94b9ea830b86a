"""The Hernandez et al. (2021) law fitted in loss space, over every run.

A fine-tuned model of size N trained on D_F tokens is modelled as a from-scratch model
of the same size trained on D_F + D_T tokens:

    L_ft(N, D_F) = L_N(D_F + k·D_F^α·N^β)

fitted jointly with the from-scratch runs that pin each L_N. L_N (``scratch_form``):

- ``spline`` (default): a cubic spline in log D through one free value per D that size
  was trained on from scratch (linear past the ends). It assumes no shape, so a curve
  that bends away from a power law (a kink like v1's token cap; the plateau-then-fall of
  the python records) cannot bias k, α, β; it costs 13–19% in interval width when the
  power law does hold (benchmarks/README.md). The book's fits use it, fixed by design
  (``analysis.SCRATCH_FORM_OF_FIT``); held-out error is reported beside it
  (``scratch_law.choose_scratch_form``);
- ``power_law``: E_N + B_N·D^(−b_N). A lack-of-fit scale factor does not rescue it from
  a kink: the misfit sits in a few runs near the kink, moves the fitted curve by ~0.01
  nats where the largest fine-tunes' effective data lie, and biases k, α, β by 0.13–0.18
  of an interval width while the dispersion stays near 1. Nothing is selected on the
outcome: a fine-tune with no measurable transfer pulls k down instead of being dropped.
The rules that decide which runs enter depend only on the design and are the ones every
Hernandez fit uses (``hernandez.DESIGN_RULES``).

Likelihood: Gaussian in nats, with the noise measured from seed replicates
(``noise.estimate_noise``): a variance per run σ(N, D)², plus an offset shared by all
runs of one (kind, source, N, seed) cluster, so the fit is generalised least squares
with a block-diagonal covariance. Censored (``budget``) runs enter one-sided
(``runs_table.one_sided``).

Intervals:

- ``profile`` (what ``ci95`` reports): every other constant re-optimised with one held
  fixed; inside while the deviance rises by less than F(1, ν; 0.95)·max(1, φ). φ is the
  fit's dispersion (deviance / residual degrees of freedom), which widens the interval
  when the runs scatter more than the seed replicates say; ν is the degrees of freedom
  behind the shared (size, seed) noise of the fine-tunes ((seeds − 1) per size), the
  variance that limits β: with 3 seeds and 5 sizes F(1, 10) = 4.96 instead of χ²₁ = 3.84,
  the small-sample allowance for a noise level that is itself estimated;
- ``bootstrap``: a cluster bootstrap over seeds: a resample draws whole seeds with
  replacement, every run of that seed (from-scratch and fine-tuned, so its pre-training
  too) moving together. With 3 seeds there are only 10 distinct resamples, so this
  interval is reported beside the profile one, not instead of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline
from scipy.linalg import block_diag, cholesky, solve_triangular
from scipy.optimize import least_squares
from scipy.stats import f as f_dist

from ..errors import InputError
from .hernandez import predict_dt
from .noise import NoiseModel, estimate_noise
from .results import FitResults, single_threaded
from .runs_table import one_sided
from .scratch import fit_curve

CHI2_1_95 = 3.841
TRANSFER = ("k", "alpha", "beta")
SCRATCH_FORMS = ("power_law", "spline")


class SplineBasis:
    """The cubic spline through values at fixed knots (log D) as a linear map of those
    values: loss(log D) = Φ(log D)·θ. Beyond the end knots it continues as the straight
    line of the end slope (a fine-tune's effective data can pass the largest D trained)."""

    def __init__(self, knots: np.ndarray):
        self.knots = np.asarray(knots, float)
        m = len(self.knots)
        eye = np.eye(m)
        if m >= 4:
            self.spline = CubicSpline(self.knots, eye, bc_type="not-a-knot")
        elif m >= 2:  # too few knots for a cubic: the interpolating polynomial
            self.spline = CubicSpline(self.knots, eye, bc_type="not-a-knot" if m == 3 else "natural")
        else:
            raise InputError("a spline curve needs converged from-scratch runs at 2 or more D per size.")
        self.slope = self.spline.derivative()
        ends = self.knots[[0, -1]]
        self.end_value, self.end_slope = self.spline(ends), self.slope(ends)

    def __call__(self, lx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Φ and dΦ/d log D at ``lx`` (rows: points, columns: knots)."""
        lx = np.asarray(lx, float)
        inside = np.clip(lx, self.knots[0], self.knots[-1])
        phi, dphi = self.spline(inside), self.slope(inside)
        for end, side in ((0, lx < self.knots[0]), (1, lx > self.knots[-1])):
            if side.any():
                dphi[side] = self.end_slope[end]
                phi[side] = self.end_value[end] + (lx[side] - self.knots[[0, -1]][end])[:, None] * self.end_slope[end]
        return phi, dphi


@dataclass
class Problem:
    """One fit's data, scaled (D by D0, N by N0), with its whitening matrix.

    ``form``: each size's from-scratch curve L_N(D), ``power_law`` (E_N + B_N·D^−b_N; 3
    constants, log E, log B, log b) or ``spline`` (one constant per converged from-scratch
    D of that size, its loss there; see the module docstring)."""

    sizes: np.ndarray  # the model sizes, in order
    sources: list[str]
    size_idx: np.ndarray
    src_idx: np.ndarray  # -1 for from-scratch rows
    D: np.ndarray  # tokens / D0
    Nz: np.ndarray  # N / N0
    y: np.ndarray
    censored: np.ndarray
    sd: np.ndarray
    W: np.ndarray  # whitening of the uncensored rows: |W r|² = r' Σ⁻¹ r
    D0: float
    N0: float
    form: str = "power_law"
    bases: list[SplineBasis] | None = None  # per size, for ``spline``

    @property
    def curve_sizes(self) -> list[int]:
        """How many constants each size's from-scratch curve has."""
        if self.form == "spline":
            return [len(b.knots) for b in self.bases]
        return [3] * len(self.sizes)

    @property
    def curve_starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.curve_sizes)])

    @property
    def n_curve(self) -> int:
        return int(sum(self.curve_sizes))

    @property
    def n_params(self) -> int:
        return self.n_curve + 3 * len(self.sources)

    def transfer_slice(self, s: int) -> slice:
        return slice(self.n_curve + 3 * s, self.n_curve + 3 * s + 3)

    def predict(self, x: np.ndarray, jac: bool = False):
        nC = self.n_curve
        ft = self.src_idx >= 0
        T = np.zeros(len(self.y))
        if ft.any():
            lk, al, be = (x[nC + i::3][self.src_idx[ft]] for i in range(3))
            lx, lz = np.log(self.D[ft]), np.log(self.Nz[ft])
            with np.errstate(over="ignore"):
                T[ft] = np.exp(np.clip(lk + al * lx + be * lz, -50, 50))
        De = self.D + T
        J = np.zeros((len(self.y), len(x))) if jac else None
        rows = np.arange(len(self.y))
        if self.form == "spline":
            pred, dDe = np.empty(len(self.y)), np.empty(len(self.y))  # dDe: d pred / d De
            starts = self.curve_starts
            for i, basis in enumerate(self.bases):
                m = self.size_idx == i
                theta = x[starts[i]:starts[i + 1]]
                phi, dphi = basis(np.log(De[m]))
                pred[m] = phi @ theta
                dDe[m] = (dphi @ theta) / De[m]
                if jac:
                    J[np.ix_(rows[m], np.arange(starts[i], starts[i + 1]))] = phi
        else:
            E, B, b = (np.exp(x[i:nC:3])[self.size_idx] for i in range(3))
            u = De ** (-b)
            pred = E + B * u
            dDe = -b * B * u / De
            if jac:
                J[rows, 3 * self.size_idx] = E
                J[rows, 3 * self.size_idx + 1] = B * u
                J[rows, 3 * self.size_idx + 2] = -b * np.log(De) * B * u
        if not jac:
            return pred
        if ft.any():
            col = nC + 3 * self.src_idx[ft]
            r = rows[ft]
            J[r, col] = dDe[ft] * T[ft]
            J[r, col + 1] = dDe[ft] * T[ft] * lx
            J[r, col + 2] = dDe[ft] * T[ft] * lz
        return pred, J

    def residuals(self, x: np.ndarray) -> np.ndarray:
        c = self.censored
        with np.errstate(all="ignore"):  # a far-off trial point overflows; it is scored 1e6 below
            r = self.predict(x) - self.y
            out = np.concatenate([self.W @ r[~c], one_sided(r[c], True) / self.sd[c]])
        return np.nan_to_num(out, nan=1e6, posinf=1e6, neginf=-1e6)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        c = self.censored
        with np.errstate(all="ignore"):
            pred, J = self.predict(x, jac=True)
            above = (pred[c] > self.y[c])[:, None]
            return np.nan_to_num(np.vstack([self.W @ J[~c], np.where(above, J[c] / self.sd[c][:, None], 0.0)]))

    def deviance(self, x: np.ndarray) -> float:
        return float(np.sum(self.residuals(x) ** 2))

    def to_constants(self, x: np.ndarray, s: int = 0) -> dict[str, float]:
        """k, α, β of source s in tokens and parameters (undoing the scaling)."""
        lk, al, be = x[self.transfer_slice(s)]
        with np.errstate(over="ignore"):  # far-off trial points (profiles, resamples) may give k = inf
            k = float(np.exp(lk + (1 - al) * np.log(self.D0) - be * np.log(self.N0)))
        return {"k": k,
                "alpha": float(al), "beta": float(be)}

    def curves(self, x: np.ndarray) -> dict[float, dict]:
        """Each size's fitted from-scratch curve, in tokens (``curve_loss`` evaluates one)."""
        out = {}
        starts = self.curve_starts
        for i, n in enumerate(self.sizes):
            v = x[starts[i]:starts[i + 1]]
            if self.form == "spline":
                out[float(n)] = {"form": "spline", "D": [float(d) for d in np.exp(self.bases[i].knots) * self.D0],
                                 "loss": [float(t) for t in v]}
            else:
                E, B, b = np.exp(v)
                out[float(n)] = {"form": "power_law", "E": float(E), "B": float(B * self.D0**b), "b": float(b)}
        return out


def curve_loss(curve: dict, D) -> np.ndarray:
    """Loss of one fitted from-scratch curve (an entry of ``Problem.curves``) at D tokens."""
    D = np.asarray(D, float)
    if curve.get("form") == "spline":
        basis = SplineBasis(np.log(curve["D"]))
        phi, _ = basis(np.log(np.atleast_1d(D)))
        return (phi @ np.asarray(curve["loss"])).reshape(D.shape)
    return curve["E"] + curve["B"] * D ** (-curve["b"])


def build_problem(rows: pd.DataFrame, noise: NoiseModel, sizes: np.ndarray, sources: list[str],
                  D0: float, N0: float, form: str = "power_law") -> Problem:
    """``rows``: scratch and fine-tuned runs (``read_runs`` columns)."""
    rows = rows.reset_index(drop=True)
    kind = rows["kind"].to_numpy()
    N, D = rows["n_params"].to_numpy(float), rows["tokens"].to_numpy(float)
    sd = noise.sd(kind, N, D)
    censored = (rows["stopped"] == "budget").to_numpy()
    ft = kind == "finetune"
    src_idx = np.where(ft, [sources.index(s) if s in sources else -1 for s in rows["source"]], -1)
    unc = np.flatnonzero(~censored)
    key = rows.loc[unc, ["kind", "source", "n_params", "seed"]].astype(str).agg("|".join, axis=1).to_numpy()
    order = np.argsort(key, kind="stable")
    blocks, inverse_order = [], np.empty(len(unc), dtype=int)
    pos = 0
    for k in pd.unique(key[order]):
        members = order[key[order] == k]
        s = sd[unc[members]]
        c = noise.cluster_sd(kind[unc[members][0]])
        L = cholesky(np.diag(s**2) + c**2, lower=True)
        blocks.append(solve_triangular(L, np.eye(len(members)), lower=True))
        inverse_order[members] = np.arange(pos, pos + len(members))
        pos += len(members)
    Wsorted = block_diag(*blocks) if blocks else np.zeros((0, 0))
    W = Wsorted[:, inverse_order]  # acts on residuals in the rows' own order
    if form not in SCRATCH_FORMS:
        raise InputError(f"unknown from-scratch form {form!r} for the loss-space fit; use one of {', '.join(SCRATCH_FORMS)}.")
    bases = None
    if form == "spline":  # knots: the D of each size's converged from-scratch runs
        conv = (kind == "scratch") & ~censored
        bases = [SplineBasis(np.log(np.unique(D[conv & (N == n)]) / D0)) for n in sizes]
    return Problem(sizes=sizes, sources=sources, size_idx=np.searchsorted(sizes, N), src_idx=src_idx,
                   D=D / D0, Nz=N / N0, y=rows["loss"].to_numpy(float), censored=censored, sd=sd, W=W, D0=D0, N0=N0,
                   form=form, bases=bases)


def _solve(prob: Problem, x0: np.ndarray, M: np.ndarray | None = None, c: np.ndarray | None = None):
    """Least squares over x = M·z + c (an affine reparameterisation that holds some
    combination fixed); M = None: all free."""
    if M is None:
        r = least_squares(prob.residuals, x0, jac=prob.jacobian, method="lm", x_scale="jac", max_nfev=2000)
        return r.x, 2 * r.cost
    z0 = np.linalg.lstsq(M, x0 - c, rcond=None)[0]
    r = least_squares(lambda z: prob.residuals(M @ z + c), z0, jac=lambda z: prob.jacobian(M @ z + c) @ M,
                      method="lm", x_scale="jac", max_nfev=2000)
    return M @ r.x + c, 2 * r.cost


def _starts(prob: Problem, rows: pd.DataFrame) -> list[np.ndarray]:
    """Each size's own from-scratch curve, then a small grid of (α, β) with k set so that
    the median fine-tune is matched."""
    x = np.zeros(prob.n_params)
    scratch = rows[(rows["kind"] == "scratch") & (rows["stopped"] != "budget")]
    starts_at = prob.curve_starts
    for i, n in enumerate(prob.sizes):
        g = scratch[scratch["n_params"] == n].groupby("tokens")["loss"].mean()
        if prob.form == "spline":  # the seed means at the knots
            x[starts_at[i]:starts_at[i + 1]] = g.reindex(np.exp(prob.bases[i].knots) * prob.D0, method="nearest")
            continue
        curve = fit_curve(g.index.to_numpy(float), g.to_numpy(float), n) if len(g) >= 2 else None
        if curve is not None and curve.method == "power_law":
            E, B, b = curve.E, curve.B * prob.D0 ** (-curve.b), curve.b
        else:
            L = g.to_numpy(float) if len(g) else rows.loc[rows["n_params"] == n, "loss"].to_numpy(float)
            E, b = 0.7 * L.min(), 0.3
            B = max(L.mean() - E, 1e-3)
        x[3 * i:3 * i + 3] = np.log([E, B, b])
    starts = []
    ft = prob.src_idx >= 0
    for al in (0.1, 0.3, 0.6):
        for be in (0.2, 0.5, 0.9):
            xs = x.copy()
            for s in range(len(prob.sources)):
                m = ft & (prob.src_idx == s)
                lk = np.median(np.log(2 * prob.D[m]) - al * np.log(prob.D[m]) - be * np.log(prob.Nz[m]))
                xs[prob.transfer_slice(s)] = (lk, al, be)
            starts.append(xs)
    return starts


def _fit_best(prob: Problem, starts: list[np.ndarray]) -> tuple[np.ndarray, float]:
    best = None
    for x0 in starts:
        try:
            x, dev = _solve(prob, x0)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if best is None or dev < best[1]:
            best = (x, dev)
    if best is None:
        raise InputError("the loss-space Hernandez fit failed from every start; check the runs table.")
    return best


def _fixing(prob: Problem, a: np.ndarray, value: float) -> tuple[np.ndarray, np.ndarray]:
    """M, c such that x = M·z + c spans {x : a·x = value}."""
    j = int(np.flatnonzero(a)[-1])  # solve for this coordinate
    p = prob.n_params
    free = [i for i in range(p) if i != j]
    M = np.zeros((p, p - 1))
    M[free, np.arange(p - 1)] = 1.0
    M[j, :] = -a[free] / a[j]
    c = np.zeros(p)
    c[j] = value / a[j]
    return M, c


def _linear_form(prob: Problem, name: str, s: int = 0) -> tuple[np.ndarray, float]:
    """(a, offset): the constant ``name`` of source s is a·x + offset (log k for k)."""
    a = np.zeros(prob.n_params)
    sl = prob.transfer_slice(s)
    if name == "k":  # log k = log k' + (1 − α) log D0 − β log N0
        a[sl.start], a[sl.start + 1], a[sl.start + 2] = 1.0, -np.log(prob.D0), -np.log(prob.N0)
        return a, float(np.log(prob.D0))
    a[sl.start + TRANSFER.index(name)] = 1.0
    return a, 0.0


def profile_interval(prob: Problem, x_hat: np.ndarray, dev_hat: float, a: np.ndarray, limit: float,
                     max_steps: int = 10) -> tuple[float, float, pd.DataFrame]:
    """The interval of the linear combination a·x over which the profile deviance stays
    within ``limit`` of the minimum; walked out in steps of about half a standard error,
    warm-started, the crossing found by interpolating the signed root of the deviance
    rise. An end not crossed within ``max_steps`` steps is ±inf."""
    J = prob.jacobian(x_hat)
    cov = np.linalg.pinv(J.T @ J)
    se = float(np.sqrt(max(a @ cov @ a, 1e-12)))
    v_hat = float(a @ x_hat)
    rows = [(v_hat, 0.0)]
    ends = []
    for direction in (-1, 1):
        x_in, v_in, rise_in, end = x_hat, v_hat, 0.0, None
        step = 0.6 * se * np.sqrt(limit / CHI2_1_95)
        for _ in range(max_steps):
            v = v_in + direction * step
            x, dev = _solve(prob, x_in, *_fixing(prob, a, v))
            rise = max(dev - dev_hat, 0.0)
            rows.append((v, rise))
            if rise > limit:
                for _ in range(2):  # refine: the signed root of the rise is about linear in v
                    t = (np.sqrt(limit) - np.sqrt(rise_in)) / (np.sqrt(rise) - np.sqrt(rise_in))
                    mid = v_in + t * (v - v_in)
                    x_mid, dev_mid = _solve(prob, x_in, *_fixing(prob, a, mid))
                    r_mid = max(dev_mid - dev_hat, 0.0)
                    rows.append((mid, r_mid))
                    if r_mid > limit:
                        v, rise = mid, r_mid
                    else:
                        v_in, rise_in, x_in = mid, r_mid, x_mid
                t = (np.sqrt(limit) - np.sqrt(rise_in)) / (np.sqrt(rise) - np.sqrt(rise_in))
                end = v_in + t * (v - v_in)
                break
            x_in, v_in, rise_in = x, v, rise
            step *= 1.5
        ends.append(end if end is not None else direction * np.inf)
    return ends[0], ends[1], pd.DataFrame(rows, columns=["value", "deviance_rise"]).sort_values("value")


def seed_resample(rows: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, tuple]:
    """A cluster-bootstrap resample: whole seeds drawn with replacement, each draw a new
    cluster (every run of that seed, from-scratch and fine-tuned, moves together)."""
    seeds = np.unique(rows["seed"].to_numpy())
    drawn = rng.choice(seeds, size=len(seeds), replace=True)
    parts = [rows[rows["seed"] == s].assign(seed=i) for i, s in enumerate(drawn)]
    return pd.concat(parts, ignore_index=True), tuple(sorted(drawn.tolist()))


def prepare(runs: pd.DataFrame, sources: list[str]) -> tuple[pd.DataFrame, np.ndarray, float, float]:
    """The rows a loss-space fit uses (from-scratch rows of the sizes that have fine-tunes
    of ``sources``, and those fine-tunes), the sizes, and the scales D0, N0."""
    ft = runs[(runs["kind"] == "finetune") & runs["source"].isin(sources)]
    sizes = np.unique(ft["n_params"].to_numpy(float))
    scratch = runs[(runs["kind"] == "scratch") & runs["n_params"].isin(sizes)]
    have = set(scratch["n_params"])
    lacking = [n for n in sizes if n not in have or (scratch["n_params"] == n).sum() < 3]
    if lacking:
        raise InputError(f"N = {', '.join(f'{n:.4g}' for n in lacking)}: the loss-space fit needs at least 3 "
                         f"from-scratch runs per model size to pin L_N(D) = E_N + B_N·D^−b_N.")
    if len(sizes) < 2 or ft["tokens"].nunique() < 2:
        raise InputError("the fine-tuned runs need at least 2 model sizes and 2 fine-tuning sizes to separate α from β.")
    rows = pd.concat([scratch, ft], ignore_index=True)
    if len(ft) + len(scratch) < 3 * len(sizes) + 3 * len(sources) + 1:
        raise InputError(f"{len(rows)} runs for {3 * len(sizes) + 3 * len(sources)} constants: add runs.")
    D0 = float(np.exp(np.mean(np.log(ft["tokens"]))))
    N0 = float(np.exp(np.mean(np.log(sizes))))
    return rows, sizes, D0, N0


def residual_noise(rows: pd.DataFrame, noise: NoiseModel, sizes, sources, D0, N0, form: str = "power_law") -> NoiseModel:
    """Without seed replicates: one σ from the residuals of an unweighted first fit."""
    if noise.glm:
        return noise
    prob = build_problem(rows, NoiseModel(constant=1.0), sizes, sources, D0, N0, form)
    x, dev = _fit_best(prob, _starts(prob, rows))
    sigma = float(np.sqrt(dev / max((~prob.censored).sum() - prob.n_params, 1)))
    return NoiseModel(constant=sigma, source=noise.source)


@dataclass
class LossSpaceFit:
    prob: Problem
    x: np.ndarray
    deviance: float
    dispersion: float
    limit: float
    noise: NoiseModel
    rows: pd.DataFrame


def fit_loss_space(rows: pd.DataFrame, sizes, sources, D0, N0, noise: NoiseModel | None = None,
                   form: str = "power_law") -> LossSpaceFit:
    noise = residual_noise(rows, noise or estimate_noise(rows), sizes, sources, D0, N0, form)
    prob = build_problem(rows, noise, sizes, sources, D0, N0, form)
    x, dev = _fit_best(prob, _starts(prob, rows))
    dof = max(len(prob.y) - prob.n_params, 1)
    disp = dev / dof
    nu = noise.cluster_df.get("finetune") if noise.cluster.get("finetune", 0) > 0 else dof
    return LossSpaceFit(prob, x, dev, disp, float(f_dist.ppf(0.95, 1, nu)) * max(1.0, disp), noise, rows)


def cluster_bootstrap(fit: LossSpaceFit, n_boot: int, rng: np.random.Generator, combine) -> pd.DataFrame:
    """``combine(prob, x)`` -> dict of the constants to keep per resample. Resamples
    with the same multiset of seeds are fitted once. A resample that cannot be fitted
    (e.g. while a seed is half-trained, one that draws only that seed lacks a size's
    from-scratch curve) is left out and counted in ``attrs["failed"]``."""
    cache, out, failed = {}, [], 0
    for _ in range(n_boot):
        rows, key = seed_resample(fit.rows, rng)
        if key not in cache:
            try:
                prob = build_problem(rows, fit.noise, fit.prob.sizes, fit.prob.sources, fit.prob.D0, fit.prob.N0,
                                     fit.prob.form)
                xb, _ = _solve(prob, fit.x)
                cache[key] = combine(prob, xb)
            except (ValueError, np.linalg.LinAlgError):  # InputError is a ValueError
                cache[key] = None
        if cache[key] is not None:
            out.append(cache[key])
        else:
            failed += 1
    table = pd.DataFrame(out)
    table.attrs["failed"] = failed
    return table


def predict_finetune_loss(fit: FitResults, N, D_F) -> np.ndarray:
    """The fitted loss of a fine-tune: L_N(D_F + k·D_F^α·N^β) on size N's fitted curve."""
    N, D_F = np.atleast_1d(np.asarray(N, float)), np.atleast_1d(np.asarray(D_F, float))
    p = fit.params
    out = np.empty(len(N))
    for i, (n, d) in enumerate(zip(N, D_F)):
        out[i] = curve_loss(fit.info["scratch_curves"][float(n)], d + p["k"] * d ** p["alpha"] * n ** p["beta"])
    return out


def scratch_curve_loss(fit: FitResults, N: float, D) -> np.ndarray:
    return curve_loss(fit.info["scratch_curves"][float(N)], D)


@single_threaded
def fit_hernandez_loss(runs: pd.DataFrame, source: str, n_boot: int = 200, seed: int = 0,
                       profile: bool = True, scratch_form: str = "spline") -> FitResults:
    """Fit one source's k, α, β in loss space (see the module docstring). ``runs``: a
    ``read_runs`` table already restricted by the design rules."""
    rows, sizes, D0, N0 = prepare(runs, [source])
    fit = fit_loss_space(rows, sizes, [source], D0, N0, form=scratch_form)
    prob, x = fit.prob, fit.x
    params = pd.Series(prob.to_constants(x))
    profile_ci, profiles = None, {}
    if profile:
        ends = {}
        for name in TRANSFER:
            a, off = _linear_form(prob, name)
            lo, hi, table = profile_interval(prob, x, fit.deviance, a, fit.limit)
            if name == "k":
                with np.errstate(over="ignore"):  # a profile walked out past k = 1e308 means k is unbounded: inf
                    lo, hi = np.exp(lo + off), np.exp(hi + off)
                    table = table.assign(value=np.exp(table["value"] + off))
            ends[name] = (lo, hi)
            profiles[name] = table
        profile_ci = pd.DataFrame(ends, index=[0, 1]).T
    J = prob.jacobian(x)
    cov = np.linalg.pinv(J.T @ J) * max(1.0, fit.dispersion)
    se = {}
    for name in TRANSFER:
        a, _ = _linear_form(prob, name)
        se[name] = float(np.sqrt(max(a @ cov @ a, 0.0)))
    se["k"] *= params["k"]  # delta method: se(k) = k·se(log k)
    boots = (cluster_bootstrap(fit, n_boot, np.random.default_rng(seed), lambda p, xb: p.to_constants(xb))
             if n_boot else None)
    info = {
        "method": "loss space, joint with the from-scratch curves (GLS, noise from seed replicates)",
        "source": source,
        "n_runs": int(len(rows)),
        "n_finetune": int((rows["kind"] == "finetune").sum()),
        "n_censored": int((rows["stopped"] == "budget").sum()),
        "seeds": int(rows["seed"].nunique()),
        "scratch_form": scratch_form,
        "deviance": float(fit.deviance),
        "dispersion": float(fit.dispersion),
        "profile_threshold": float(fit.limit),
        "noise": fit.noise.as_dict(),
        "scratch_curves": prob.curves(x),
        "bootstrap": "cluster (whole seeds)",
        "bootstrap_failed": int(boots.attrs.get("failed", 0)) if boots is not None else 0,
        "profiles": profiles,
    }
    return FitResults("hernandez", params, boots if boots is not None and len(boots) else None, None, info,
                      predict_dt, profile_ci, reported="profile" if profile else "bootstrap",
                      asymptotic_se=pd.Series(se))


@single_threaded
def compare_loss_space(runs: pd.DataFrame, source_a: str, source_b: str, n_boot: int = 200, seed: int = 0,
                       scratch_form: str = "spline") -> FitResults:
    """Both sources fitted jointly, sharing the from-scratch curves (and runs), and the
    differences A − B of α, β and log k with intervals of the differences: profile
    likelihood of each difference (``ci95``), and a joint seed-cluster bootstrap that
    resamples every seed once per replicate, the shared from-scratch runs with it."""
    if source_a == source_b:
        raise InputError("compare two different sources.")
    sources = [source_a, source_b]
    rows, sizes, D0, N0 = prepare(runs, sources)
    fit = fit_loss_space(rows, sizes, sources, D0, N0, form=scratch_form)
    prob, x = fit.prob, fit.x

    def differences(p: Problem, xb: np.ndarray) -> dict[str, float]:
        a, b = p.to_constants(xb, 0), p.to_constants(xb, 1)
        return {"alpha_diff": a["alpha"] - b["alpha"], "beta_diff": a["beta"] - b["beta"],
                "log_k_diff": float(np.log(a["k"]) - np.log(b["k"]))}

    params = pd.Series(differences(prob, x))
    ends, profiles = {}, {}
    for name, const in (("alpha_diff", "alpha"), ("beta_diff", "beta"), ("log_k_diff", "k")):
        (a0, _), (a1, _) = _linear_form(prob, const, 0), _linear_form(prob, const, 1)
        lo, hi, profiles[name] = profile_interval(prob, x, fit.deviance, a0 - a1, fit.limit)
        ends[name] = (lo, hi)
    boots = cluster_bootstrap(fit, n_boot, np.random.default_rng(seed), differences) if n_boot else None
    info = {"method": "joint loss-space fit of two sources sharing the from-scratch curves",
            "sources": sources, "scratch_form": scratch_form, "per_source": {s: prob.to_constants(x, i) for i, s in enumerate(sources)},
            "n_runs": int(len(rows)), "seeds": int(rows["seed"].nunique()), "dispersion": float(fit.dispersion),
            "noise": fit.noise.as_dict(), "bootstrap": "joint cluster (whole seeds, shared scratch runs)",
            "profiles": profiles}
    return FitResults("hernandez_difference", params, boots if boots is not None and len(boots) else None, None,
                      info, None, pd.DataFrame(ends, index=[0, 1]).T, reported="profile")
