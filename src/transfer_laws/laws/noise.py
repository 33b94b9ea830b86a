"""Noise per run, measured from seed replicates.

Within one group (kind, source, N) the runs form a seed × D table. Its two-way
decomposition ``loss = μ_D + c_seed + ε`` gives

- ``σ(N, D)``: the run-to-run noise, from the residuals ε of each cell, smoothed over
  the design by a Gamma GLM with log link, quadratic in (log D, log N), per kind
  (statsmodels; ``variance_design``);
- ``σ_c``: the offset c shared by all runs of one (kind, source, N, seed) — for
  fine-tunes, what one pre-training seed does to all its fine-tunes — from the spread
  of the seed means beyond what ε explains, pooled per kind.

Censored (``budget``) runs are left out: their recorded loss is only a bound. With a
single seed there are no replicates: ``σ`` is then one constant, set by the caller from
a first fit's residuals, and ``σ_c`` is 0 (``NoiseModel.source`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm

KINDS = ("scratch", "finetune")
QUADRATIC = True  # the variance surface: quadratic in (log D, log N) rather than linear


def variance_design(D, N, quadratic: bool | None = None) -> np.ndarray:
    """Regressors of log σ² over the design: [1, log D, log N] and, when ``QUADRATIC``,
    their squares and product (noise that rises only at small N and small D, as measured,
    is a corner of the design a plane cannot follow). Centred on fixed scales."""
    quadratic = QUADRATIC if quadratic is None else quadratic
    d, n = np.log(np.asarray(D, float)) - np.log(3e4), np.log(np.asarray(N, float)) - np.log(5e4)
    cols = [np.ones_like(d), d, n] + ([d**2, n**2, d * n] if quadratic else [])
    return np.column_stack(cols)


@dataclass
class NoiseModel:
    glm: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> coefficients on [1, log D, log N]
    cluster: dict[str, float] = field(default_factory=dict)  # kind -> σ_c
    cluster_df: dict[str, int] = field(default_factory=dict)  # kind -> degrees of freedom behind σ_c
    constant: float | None = None  # σ when there are no replicates
    source: str = "seed replicates"
    cells: pd.DataFrame | None = None  # the per-cell variances the GLM was fitted to

    def sd(self, kind: np.ndarray, N: np.ndarray, D: np.ndarray) -> np.ndarray:
        kind, N, D = np.asarray(kind), np.asarray(N, float), np.asarray(D, float)
        out = np.full(len(kind), np.nan if self.constant is None else self.constant)
        for k, coef in self.glm.items():
            m = kind == k
            out[m] = np.sqrt(np.exp(variance_design(D[m], N[m], len(coef) > 3) @ coef))
        if np.isnan(out).any():  # a kind without replicates: the other kind's scale
            known = [np.exp(variance_design(D, N, len(c) > 3) @ c) for c in self.glm.values()]
            out = np.where(np.isnan(out), np.sqrt(np.mean(known, axis=0)) if known else 0.03, out)
        return out

    def cluster_sd(self, kind: str) -> float:
        return float(self.cluster.get(kind, 0.0))

    def as_dict(self) -> dict:
        return {"source": self.source, "cluster_sd": {k: round(v, 5) for k, v in self.cluster.items()},
                "cluster_df": self.cluster_df, "constant_sd": self.constant}


def estimate_noise(runs: pd.DataFrame) -> NoiseModel:
    """The noise model of a runs table (``read_runs`` output)."""
    ok = runs[runs["stopped"] != "budget"]
    cells, cluster_num, cluster_den = [], {k: 0.0 for k in KINDS}, {k: 0 for k in KINDS}
    for (kind, source, N), g in ok.groupby(["kind", "source", "n_params"]):
        table = g.pivot_table(index="seed", columns="tokens", values="loss", aggfunc="mean").dropna(axis=1)
        S, nD = table.shape
        if S < 2 or nD < 1:
            continue
        y = table.to_numpy()
        dev = y - y.mean(axis=0)  # from each D's mean over seeds
        seed_means = dev.mean(axis=1)
        resid = dev - seed_means[:, None] if nD > 1 else dev
        df_cell = (S - 1) * (1 - 1 / nD) if nD > 1 else (S - 1)
        var_cell = (resid**2).sum(axis=0) / df_cell
        for D, v in zip(table.columns, var_cell):
            cells.append({"kind": kind, "n_params": N, "tokens": float(D), "var": float(max(v, 1e-10)), "df": df_cell})
        if nD > 1:  # σ_c² = var(seed means) − mean ε variance / n_D
            est = float(np.var(seed_means, ddof=1) - var_cell.sum() / nD**2)
            cluster_num[kind] += est * (S - 1)
            cluster_den[kind] += S - 1
    if not cells:
        return NoiseModel(source="no seed replicates: one σ from the fit's residuals")
    cells = pd.DataFrame(cells)
    glm = {}
    for kind, c in cells.groupby("kind"):
        X = variance_design(c["tokens"], c["n_params"])
        if len(c) < 3 * X.shape[1] or np.linalg.matrix_rank(X) < X.shape[1]:  # too few cells: a plane
            X = variance_design(c["tokens"], c["n_params"], quadratic=False)
        if len(c) < 6 or np.linalg.matrix_rank(X) < 3:  # too few cells for a trend: one level per kind
            glm[kind] = np.array([np.log(np.average(c["var"], weights=c["df"])), 0.0, 0.0])
            continue
        fit = sm.GLM(c["var"].to_numpy(), X, family=sm.families.Gamma(sm.families.links.Log()),
                     var_weights=c["df"].to_numpy()).fit()
        glm[kind] = np.asarray(fit.params)
    cluster = {k: float(np.sqrt(max(cluster_num[k] / cluster_den[k], 0.0))) for k in KINDS if cluster_den[k]}
    return NoiseModel(glm=glm, cluster=cluster, cluster_df={k: int(v) for k, v in cluster_den.items() if v},
                      cells=cells)
