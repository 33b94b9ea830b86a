"""Synthetic runs tables from known constants: the ground truth the fitters are
tested against (parameter recovery, interval coverage) and the benchmarks time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .laws.barnett import LAWS


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
