"""Synthetic runs tables from known constants: the ground truth the fitters are
tested against (parameter recovery, interval coverage) and the benchmarks time.

``design_runs`` mirrors a study design (sizes, grids, seeds) and the noise measured from
seed replicates; ``like_study`` builds its truth and noise from a study's records (the
fitted from-scratch curves and k, α, β; the σ(N, D) surface and σ_c measured from its
seeds), so the calibration runs look like ours; ``hernandez_runs`` and ``barnett_runs`` are the older single-seed
tables kept for the D_T-space pipeline and the transfer-gap tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError
from .laws.barnett import LAWS
from .laws.noise import NoiseModel


def _x2_grid(lo: int, hi: int) -> tuple[float, ...]:
    return tuple(float(2**e) for e in range(int(np.log2(lo)), int(np.log2(hi)) + 1))


@dataclass(frozen=True)
class Design:
    """What a study trains. Defaults: the committed v2 ``cpu`` profile (5 sizes of ≥ 2
    layers, ×2 from-scratch grid, D_F on it, 3 seeds, the p grid over 2.6 decades at the
    two smallest sizes); ``Design.from_profile`` reads any profile."""

    sizes: tuple[float, ...] = (6592.0, 25472.0, 56640.0, 100096.0, 233680.0)
    scratch_tokens: tuple[float, ...] = _x2_grid(2048, 262144)
    finetune_tokens: tuple[float, ...] = (2048.0, 8192.0, 32768.0, 65536.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    pretrain_tokens: float = 4194304.0  # the main p, every size
    gap_sizes: tuple[float, ...] = (6592.0, 25472.0)
    gap_pretrain_tokens: tuple[float, ...] = (32768.0, 131072.0, 524288.0, 2097152.0, 12582912.0)
    gap_finetune_tokens: tuple[float, ...] = (2048.0, 8192.0, 32768.0)

    @classmethod
    def from_profile(cls, name: str, vocab_size: int = 1024) -> "Design":
        """The design a profile plans, with N as the family instantiates it."""
        from .model import build_model, count_non_embedding, shape_for
        from .study import load_profile

        prof = load_profile(name)
        n_of = {n: float(count_non_embedding(build_model(shape_for(n, vocab_size, prof["n_ctx"]))))
                for n in prof["sizes"]}
        pt = prof["pretrain_tokens"]
        return cls(sizes=tuple(n_of[n] for n in prof["sizes"]),
                   scratch_tokens=tuple(map(float, prof["scratch_tokens"])),
                   finetune_tokens=tuple(map(float, prof["finetune_tokens"])), seeds=tuple(prof["seeds"]),
                   pretrain_tokens=float(pt["main"]), gap_sizes=tuple(n_of[n] for n in pt["grid_size"]),
                   gap_pretrain_tokens=tuple(map(float, pt["grid"])),
                   gap_finetune_tokens=tuple(map(float, pt["grid_finetune_tokens"])))


@dataclass(frozen=True)
class Noise:
    """Noise in nats. ``run``: run-to-run (seed and data subset) at a grid point;
    ``small``: what it rises to at the smallest size with D ≤ ``small_tokens``;
    ``eval``: evaluation noise; ``cluster``: an offset shared by every fine-tune of one
    (size, source, seed), which is what one pre-training seed does; ``cluster_scratch``:
    the same for from-scratch runs of one (size, seed) (one initialisation)."""

    run: float = 0.03
    small: float = 0.08
    small_tokens: float = 16384
    eval: float = 0.004
    cluster: float = 0.035
    cluster_scratch: float = 0.01

    def sd(self, N: np.ndarray, D: np.ndarray, smallest: float) -> np.ndarray:
        run = np.where((N <= smallest) & (D <= self.small_tokens), self.small, self.run)
        return np.sqrt(run**2 + self.eval**2)

    def run_sd(self, kind: np.ndarray, N: np.ndarray, D: np.ndarray, smallest: float) -> np.ndarray:
        return self.sd(N, D, smallest)

    def cluster_sd(self, kind: str) -> float:
        return self.cluster_scratch if kind == "scratch" else self.cluster


@dataclass(frozen=True)
class MeasuredNoise:
    """The noise a study measured from its seed replicates (``laws.noise.estimate_noise``):
    run-to-run σ(N, D) from the variance GLM of each kind (evaluation noise included, it
    is part of what the seeds scatter by) and σ_c per kind."""

    model: NoiseModel

    def run_sd(self, kind: np.ndarray, N: np.ndarray, D: np.ndarray, smallest: float) -> np.ndarray:
        return self.model.sd(kind, N, D)

    def cluster_sd(self, kind: str) -> float:
        return self.model.cluster_sd(kind)


@dataclass(frozen=True)
class Truth:
    """L(N, D) = E + A·N^−a + B·D^−b from scratch; fine-tunes at L(N, D_F + k·D_F^α·N^β),
    pre-trained on the main p; at another p, k is scaled by (p / main p)^``p_exponent``.
    ``kink_tokens``: a misspecification like the v1 token cap: above this D the curve
    stops improving as the power law says, adding ``kink_slope``·ln(D/kink_tokens)."""

    E: float = 2.5
    A: float = 25.0
    a: float = 0.3
    B: float = 30.0
    b: float = 0.3
    k: float = 80.0
    alpha: float = 0.2
    beta: float = 0.4
    kink_tokens: float | None = None
    kink_slope: float = 0.05
    p_exponent: float = 0.3

    def scratch(self, N, D) -> np.ndarray:
        N, D = np.asarray(N, float), np.asarray(D, float)
        L = self.E + self.A * N ** (-self.a) + self.B * D ** (-self.b)
        if self.kink_tokens is not None:
            L = L + self.kink_slope * np.log(np.maximum(D / self.kink_tokens, 1.0))
        return L

    def transferred(self, D_F, N, p_ratio: float = 1.0) -> np.ndarray:
        k = self.k * p_ratio**self.p_exponent
        return k * np.asarray(D_F, float) ** self.alpha * np.asarray(N, float) ** self.beta

    def finetune(self, N, D_F, p_ratio: float = 1.0) -> np.ndarray:
        return self.scratch(N, np.asarray(D_F, float) + self.transferred(D_F, N, p_ratio))


@dataclass(frozen=True)
class FittedTruth:
    """A study's fitted Hernandez law as the truth: from scratch, each size's fitted
    curve (``curves``: the fit's ``info["scratch_curves"]``, evaluated by
    ``hernandez_loss.curve_loss``); fine-tunes at L_N(D_F + k·D_F^α·N^β) with the fit's
    k, α, β. Only the main p: the fit says nothing about other p."""

    curves: dict
    k: float
    alpha: float
    beta: float

    @classmethod
    def from_fit(cls, fit) -> "FittedTruth":
        p = fit.params
        return cls(curves={float(n): c for n, c in fit.info["scratch_curves"].items()},
                   k=float(p["k"]), alpha=float(p["alpha"]), beta=float(p["beta"]))

    def _curve(self, n: float):
        """Size n's curve as a function of D (a spline's basis is built once per size)."""
        from .laws.hernandez_loss import SplineBasis, curve_loss

        cache = self.__dict__.setdefault("_curve_cache", {})  # a frozen dataclass: not a field
        if n not in cache:
            if n not in self.curves:
                raise InputError(f"N = {n:.6g}: the fitted truth has no from-scratch curve for this size "
                                 f"(it has {', '.join(f'{m:.6g}' for m in sorted(self.curves))}).")
            c = self.curves[n]
            if c.get("form") == "spline":
                basis, theta = SplineBasis(np.log(c["D"])), np.asarray(c["loss"], float)
                cache[n] = lambda D: basis(np.log(D))[0] @ theta
            else:
                cache[n] = lambda D: curve_loss(c, D)
        return cache[n]

    def scratch(self, N, D) -> np.ndarray:
        N, D = np.broadcast_arrays(np.asarray(N, float), np.asarray(D, float))
        out = np.empty(N.shape)
        for n in np.unique(N):
            m = N == n
            out[m] = self._curve(float(n))(D[m])
        return out

    def transferred(self, D_F, N, p_ratio: float = 1.0) -> np.ndarray:
        if p_ratio != 1.0:
            raise InputError("a fitted truth holds only the main p; it cannot draw the transfer-gap grid.")
        return self.k * np.asarray(D_F, float) ** self.alpha * np.asarray(N, float) ** self.beta

    def finetune(self, N, D_F, p_ratio: float = 1.0) -> np.ndarray:
        return self.scratch(N, np.asarray(D_F, float) + self.transferred(D_F, N, p_ratio))


@dataclass(frozen=True)
class StudyLike:
    """Truth, noise and design of synthetic runs that look like one study."""

    truth: FittedTruth
    noise: MeasuredNoise
    design: Design
    fit: object  # the FitResults the truth was read from


def like_study(runs: pd.DataFrame, fit=None, design: Design | None = None) -> StudyLike:
    """Synthetic-run ingredients read from a study's records, nothing typed in:

    - noise: ``estimate_noise`` of the converged runs at the main p (σ(N, D) per kind,
      σ_c per kind); it needs seed replicates;
    - truth: ``fit`` (a loss-space ``fit_hernandez`` result; fitted here without
      intervals when None): its from-scratch curves and k, α, β;
    - design: ``design`` or, when None, the sizes, grids and seeds found in ``runs``.
    """
    from .laws.hernandez import fit_hernandez
    from .laws.noise import estimate_noise

    ok = runs[runs["stopped"] != "budget"] if "stopped" in runs else runs
    model = estimate_noise(ok)
    if not model.glm:
        raise InputError("the runs have no seed replicates (no (kind, size, D) cell with two or more seeds): "
                         "there is no measured noise to draw synthetic runs with.")
    if fit is None:
        fit = fit_hernandez(runs, n_boot=0, profile=False)
    if "scratch_curves" not in fit.info:
        raise InputError("the fit has no from-scratch curves: pass a loss-space fit_hernandez result.")
    if design is None:
        ft = runs[runs["kind"] == "finetune"]
        ps = ft["pretrain_tokens"].dropna()
        design = Design(sizes=tuple(sorted(float(n) for n in fit.info["scratch_curves"])),
                        scratch_tokens=tuple(sorted(runs.loc[runs["kind"] == "scratch", "tokens"].astype(float).unique())),
                        finetune_tokens=tuple(sorted(ft["tokens"].astype(float).unique())),
                        seeds=tuple(sorted(int(s) for s in runs["seed"].unique())),
                        pretrain_tokens=float(ps.mode().iloc[0]) if len(ps) else Design().pretrain_tokens,
                        gap_sizes=())
    return StudyLike(FittedTruth.from_fit(fit), MeasuredNoise(model), design, fit)


def restrict_to(runs: pd.DataFrame, layout: pd.DataFrame) -> pd.DataFrame:
    """The rows of a synthetic ``runs`` table at the (kind, size, D, seed) points ``layout``
    (a study's records) has: the design as far as it is trained."""
    keys = ["kind", "n_params", "tokens", "seed"]
    have = layout[keys].astype({"n_params": float, "tokens": float, "seed": int}).drop_duplicates()
    return runs.merge(have, on=keys, how="inner")


def design_runs(truth: Truth | FittedTruth | None = None, design: Design | None = None,
                noise: Noise | MeasuredNoise | None = None,
                seed: int = 0, source: str = "src", target: str = "tgt",
                budget_tokens: float | None = None, budget_gap: float = 0.05, gap_grid: bool = False) -> pd.DataFrame:
    """A RUNS table for ``design`` under ``truth`` with ``noise``: from-scratch runs on
    the scratch grid and fine-tunes at the main p on the D_F grid, every one per seed;
    ``gap_grid``: also the transfer-gap grid (more p at ``design.gap_sizes``).
    ``budget_tokens``: runs with D ≥ this ran out of budget (``stopped = budget``) and
    record a loss ``budget_gap`` nats above their converged one (an upper bound)."""
    truth, design, noise = truth or Truth(), design or Design(), noise or Noise()
    rng = np.random.default_rng(seed)
    smallest = min(design.sizes)
    rows = []
    for N in design.sizes:
        for s in design.seeds:
            c_scratch = noise.cluster_sd("scratch") * rng.standard_normal()
            c_ft = noise.cluster_sd("finetune") * rng.standard_normal()
            for D in design.scratch_tokens:
                rows.append(("scratch", N, D, np.nan, truth.scratch(N, D) + c_scratch, "", s))
            for D in design.finetune_tokens:
                rows.append(("finetune", N, D, design.pretrain_tokens, truth.finetune(N, D) + c_ft, source, s))
            if gap_grid and N in design.gap_sizes:
                for p in design.gap_pretrain_tokens:
                    c_p = noise.cluster_sd("finetune") * rng.standard_normal()  # its own pre-training run
                    for D in design.gap_finetune_tokens:
                        L = truth.finetune(N, D, p / design.pretrain_tokens) + c_p
                        rows.append(("finetune", N, D, p, L, source, s))
    df = pd.DataFrame(rows, columns=["kind", "n_params", "tokens", "pretrain_tokens", "loss", "source", "seed"])
    sd = noise.run_sd(df["kind"].to_numpy(), df["n_params"].to_numpy(), df["tokens"].to_numpy(), smallest)
    df["loss"] += sd * rng.standard_normal(len(df))
    df["target"] = target
    df["stopped"] = "early_stop"
    if budget_tokens is not None:
        cut = df["tokens"] >= budget_tokens
        df.loc[cut, "stopped"] = "budget"
        df.loc[cut, "loss"] += budget_gap
    return df


def hernandez_runs(k: float = 30.0, alpha: float = 0.35, beta: float = 0.4,
                   sizes=(1e4, 3e4, 1e5, 3e5, 1e6), finetune_sizes=None, scratch_sizes=None,
                   noise: float = 0.003, seed: int = 0, E0: float = 1.5, B0: float = 60.0, b: float = 0.3) -> pd.DataFrame:
    """From-scratch losses L_N(D) = E_N + B·D^−b (E_N falls with N), and fine-tuned
    losses L_N(D_F + D_T) with D_T = k·D_F^α·N^β, each with multiplicative noise."""
    rng = np.random.default_rng(seed)
    finetune_sizes = finetune_sizes if finetune_sizes is not None else np.geomspace(1e3, 1e5, 6)
    scratch_sizes = scratch_sizes if scratch_sizes is not None else np.geomspace(1e3, 1e9, 13)
    rows = []
    for N in sizes:
        E = E0 + 40.0 * N ** -0.3

        def loss(D):
            return E + B0 * D ** (-b)

        for D in scratch_sizes:
            rows.append({"kind": "scratch", "n_params": N, "tokens": D, "pretrain_tokens": np.nan,
                         "loss": loss(D) * (1 + noise * rng.standard_normal())})
        for DF in finetune_sizes:
            DT = k * DF**alpha * N**beta
            rows.append({"kind": "finetune", "n_params": N, "tokens": DF, "pretrain_tokens": 1e9,
                         "loss": loss(DF + DT) * (1 + noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def chinchilla_runs(params: dict | None = None, sizes=None, tokens=None, noise: float = 0.01,
                    seed: int = 0) -> pd.DataFrame:
    """From-scratch runs from L(N, D) = E + A·N^−alpha + B·D^−beta with multiplicative noise."""
    p = params or {"E": 1.8, "A": 400.0, "B": 400.0, "alpha": 0.34, "beta": 0.28}
    rng = np.random.default_rng(seed)
    sizes = sizes if sizes is not None else np.geomspace(1e4, 1e7, 7)
    tokens = tokens if tokens is not None else np.geomspace(1e5, 1e9, 9)
    N, D = (a.ravel() for a in np.meshgrid(sizes, tokens))
    L = (p["E"] + p["A"] * N ** (-p["alpha"]) + p["B"] * D ** (-p["beta"])) * np.exp(noise * rng.standard_normal(len(N)))
    return pd.DataFrame({"kind": "scratch", "n_params": N, "tokens": D, "pretrain_tokens": np.nan, "loss": L})


def barnett_runs(params: dict | None = None, law: str = "barnett", p_grid=None, f_grid=None,
                 noise: float = 0.003, seed: int = 0, n_params: float = 1e5) -> pd.DataFrame:
    params = params or {"A": 8.0, "alpha": 0.3, "G": 0.8, "beta": 0.1, "E": 1.0}
    rng = np.random.default_rng(seed)
    p_grid = p_grid if p_grid is not None else np.geomspace(1e5, 1e8, 5)
    f_grid = f_grid if f_grid is not None else np.geomspace(1e3, 1e7, 6)
    P, F = np.meshgrid(p_grid, f_grid)
    P, F = P.ravel(), F.ravel()
    L = LAWS[law].fn(params, P, F) * (1 + noise * rng.standard_normal(len(P)))
    return pd.DataFrame({"kind": "finetune", "n_params": n_params, "tokens": F, "pretrain_tokens": P, "loss": L})
