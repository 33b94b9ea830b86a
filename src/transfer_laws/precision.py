"""How precise a fitted exponent is, and what would make it precise enough.

``seed_noise`` is the run-to-run noise measured from seed replicates, per (kind, N, D).
``width_outlook`` projects the 95% interval width of α and β of a loss-space Hernandez
fit to more seeds, anchored on the measured (profile) width: a noise-limited width
shrinks as √(s_now/s), and the profile threshold F(1, ν)·max(1, φ) as the degrees of
freedom ν behind the fine-tunes' shared noise grow ((seeds − 1) per size), so
width(s) = width_now·√(s_now/s)·√(F(1, ν_s)/F(1, ν_now)), which at s_now is the
measured width. The projection keeps the design and assumes seeds shrink all of the
width; where the dispersion φ > ``LACK_OF_FIT`` the runs scatter about the law more than
seed noise explains, the width is limited by lack of fit, and no seed count is given;
nor where the interval is unbounded. ``lever_arm`` says what a wider design would do
instead: at fixed noise the interval of a slope narrows as the spread of its regressor
(ln N for β, ln D_F for α) widens.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import f as f_dist

from .laws.noise import estimate_noise
from .laws.runs_table import read_runs

WIDTH_TARGET = 0.3  # issue 13: the 95% intervals of α and of β each at most this wide
LACK_OF_FIT = 2.0  # dispersion φ above this: the fit's misfit, not seed noise, sets the width


def seed_noise(runs: pd.DataFrame) -> pd.DataFrame:
    """Measured seed-to-seed noise: σ (nats) per kind, N and D where 2 or more seeds
    finished, with the seeds behind it, and the shared offset σ_c per kind."""
    table = read_runs(runs)
    model = estimate_noise(table)
    if model.cells is None or model.cells.empty:
        return pd.DataFrame(columns=["kind", "N", "D", "seeds", "sigma", "cluster_sigma"])
    ok = table[table["stopped"] != "budget"]
    seeds = ok.groupby(["kind", "n_params", "tokens"])["seed"].nunique()
    c = model.cells
    return pd.DataFrame({
        "kind": c["kind"], "N": c["n_params"].astype(int), "D": c["tokens"].astype(int),
        "seeds": [int(seeds.get((k, n, d), 0)) for k, n, d in zip(c["kind"], c["n_params"], c["tokens"])],
        "sigma": np.sqrt(c["var"].to_numpy()),
        "cluster_sigma": [model.cluster_sd(k) for k in c["kind"]],
    }).sort_values(["kind", "N", "D"], ignore_index=True)


def effective_seeds(runs: pd.DataFrame) -> float:
    """Mean number of finished seeds per fine-tuned (N, D_F) cell."""
    ft = read_runs(runs)
    ft = ft[(ft["kind"] == "finetune") & (ft["stopped"] != "budget")]
    return float(ft.groupby(["n_params", "tokens"])["seed"].nunique().mean()) if len(ft) else 0.0


def width_outlook(fit, runs: pd.DataFrame, target: float = WIDTH_TARGET, max_seeds: int = 100) -> pd.DataFrame:
    """Per exponent (α, β) of a loss-space Hernandez fit: the measured 95% width, whether
    it meets ``target``, the projection at the seeds there are now (the measured width,
    by construction) and at 3, 5, 10 seeds per point, whether the width is limited by
    lack of fit (φ > ``LACK_OF_FIT``), and the fewest seeds at which the projection meets
    the target (inf if none up to ``max_seeds``, if lack of fit limits it, or if the
    interval is unbounded)."""
    ci = fit.conf_int()
    table = read_runs(runs)
    n_sizes = int(table.loc[table["kind"] == "finetune", "n_params"].nunique())
    s_now = effective_seeds(runs)
    phi = float(fit.info.get("dispersion", 1.0))
    limited = phi > LACK_OF_FIT

    def f95(seeds: float) -> float:
        return float(f_dist.ppf(0.95, 1, max((seeds - 1) * n_sizes, 1.0)))

    rows = []
    for name in ("alpha", "beta"):
        lo, hi = float(ci.loc[name, 0]), float(ci.loc[name, 1])
        width = hi - lo
        ok = bool(np.isfinite(width)) and s_now > 0

        def projected(seeds: float) -> float:
            return width * math.sqrt(s_now / seeds) * math.sqrt(f95(seeds) / f95(s_now)) if ok else math.nan

        need = (next((s for s in range(2, max_seeds + 1) if projected(s) <= target), math.inf)
                if ok and not limited else math.inf)
        rows.append({"exponent": name, "estimate": float(fit.params[name]), "low": lo, "high": hi, "width": width,
                     "meets target": bool(np.isfinite(width) and width <= target), "seeds now": s_now,
                     "projected at seeds now": projected(s_now) if ok else math.nan,
                     **{f"width at {s} seeds": projected(s) for s in (3, 5, 10)},
                     "dispersion": phi, "limited by lack of fit": limited,
                     "seeds for target": need})
    return pd.DataFrame(rows)


def lever_arm(profile_a: dict, profile_b: dict) -> dict[str, float]:
    """How much narrower a slope's interval gets going from design a to design b at the
    same noise and points per cell: the ratio of the regressor's spread (std of ln N for
    β, of ln D_F for α) of b to a, times √(cells of b / cells of a)."""
    def spread(xs):
        return float(np.std(np.log(np.asarray(xs, float))))

    cells_a = len(profile_a["sizes"]) * len(profile_a["finetune_tokens"])
    cells_b = len(profile_b["sizes"]) * len(profile_b["finetune_tokens"])
    more = math.sqrt(cells_b / cells_a)
    return {"beta": spread(profile_b["sizes"]) / spread(profile_a["sizes"]) * more,
            "alpha": spread(profile_b["finetune_tokens"]) / spread(profile_a["finetune_tokens"]) * more}


def target_lines(pair: str, outlook: pd.DataFrame, arm: dict[str, float] | None = None) -> list[str]:
    """One markdown line per exponent of ``outlook`` (``width_outlook``): whether its
    interval meets the width target, and if not, what the projection says would: a seed
    count, or why none is given (unbounded, lack of fit, none up to the cap); ``arm``
    (``lever_arm``) adds what a wider design would do at the same noise."""
    lines = []
    for _, r in outlook.iterrows():
        sym = "α" if r["exponent"] == "alpha" else "β"
        if r["meets target"]:
            lines.append(f"- **{pair}**, {sym}: width {r['width']:.3f} ≤ {WIDTH_TARGET}: **target met**.")
            continue
        if not np.isfinite(r["width"]):
            width, seeds = "unbounded", "no seed count is projected from an unbounded interval"
        elif r["limited by lack of fit"]:
            width = f"{r['width']:.3f}"
            seeds = (f"the dispersion φ = {r['dispersion']:.3g} > {LACK_OF_FIT:g} says the width is limited by lack of "
                     "fit (the runs scatter about the law more than between seeds), so more seeds will not meet the "
                     "target")
        elif np.isfinite(r["seeds for target"]):
            width = f"{r['width']:.3f}"
            seeds = (f"by the projection about {r['seeds for target']:.0f} seeds per point would meet it (now "
                     f"{r['seeds now']:.2g}; the projection at that is {r['projected at seeds now']:.3f}, the measured "
                     "width)")
        else:
            width, seeds = f"{r['width']:.3f}", "by the projection no number of seeds up to 100 would, at this design"
        wider = (f"; the gpu profile's wider design would narrow it about {arm[r['exponent']]:.2g}× at the same noise"
                 if arm else "")
        lines.append(f"- **{pair}**, {sym}: width {width} > {WIDTH_TARGET}: **target not met**; {seeds}{wider}.")
    return lines
