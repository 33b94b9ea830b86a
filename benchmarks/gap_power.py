"""What would bound the transfer gap G: its profile interval on synthetic runs drawn from a study's own fit.

For each model size of a study that has a p grid, the Barnett law is fitted to the real
fine-tunes (the truth) and its log-residual spread taken as the noise. Synthetic studies
are drawn from that truth on designs that differ from the one run: the design as run
(its (p, f) points and seeds, read off the records), 4× the seeds, the p grid extended
by two ×4 steps beyond its top or below its bottom, and the f grid extended to 131k at
every p. Each draw is
fitted like the book fits the real runs (``gap.fit_gap_at_size``: profile intervals), and the
script prints, per design: how often G's 95% interval is bounded on both sides, how
often it covers the true G (calibration of the interval on runs like ours), and the
median interval ends. The transfer-gap and claims pages quote these figures as what
would decide G where the real runs do not.

    .venv/bin/python benchmarks/gap_power.py --source english --target python --draws 20
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from transfer_laws.analysis import read_study
from transfer_laws.gap import fit_gap_at_size
from transfer_laws.laws import fit_barnett
from transfer_laws.laws.barnett import LAWS


def designs(pts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """(p, f, seed) rows of the design as run and of the alternatives."""
    run = pts[["pretrain_tokens", "tokens", "seed"]].drop_duplicates().reset_index(drop=True)
    seeds = sorted(run["seed"].unique())
    ps, fs = sorted(run["pretrain_tokens"].unique()), sorted(run["tokens"].unique())

    def grid(p_values, f_values, seed_values):
        return pd.DataFrame([(p, f, s) for p in p_values for f in f_values for s in seed_values],
                            columns=["pretrain_tokens", "tokens", "seed"])

    more_seeds = pd.concat([run.assign(seed=run["seed"] + k * 1000) for k in range(4)], ignore_index=True)
    p_ext = pd.concat([run, grid([ps[-1] * 4, ps[-1] * 16], [f for f in fs if (run["tokens"] == f).sum() > len(seeds)],
                                 seeds)], ignore_index=True)
    p_low = pd.concat([run, grid([ps[0] / 16, ps[0] / 4], [f for f in fs if (run["tokens"] == f).sum() > len(seeds)],
                                 seeds)], ignore_index=True)
    f_ext = grid(ps, sorted(set(fs) | {65536, 131072}), seeds)
    return {"as run": run, "4x seeds": more_seeds, "p grid x16 beyond its top": p_ext,
            "p grid x16 below its bottom": p_low, "f to 131k at every p": f_ext}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--results", default="results")
    ap.add_argument("--draws", type=int, default=20)
    args = ap.parse_args()

    sd = read_study(args.source, args.target, args.profile, args.results)
    ft = sd.runs[sd.runs["kind"] == "finetune"]
    form = LAWS["barnett"]
    print(f"study {sd.name}: {len(sd.records)} of {sd.planned} planned runs; {args.draws} draws per design")
    print("| N | design | runs | G true | bounded | covers true G | median G interval |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for n, pts in ft.groupby("n_params"):
        if pts["pretrain_tokens"].nunique() < 2:
            continue
        truth = fit_barnett(pts, n_boot=0, n_params=float(n))
        sigma = truth.info["rmse_log_loss"]
        g_true = float(truth.params["G"])
        rng = np.random.default_rng(0)
        for name, d in designs(pts).items():
            mu = form.fn(truth.params, d["pretrain_tokens"].to_numpy(float), d["tokens"].to_numpy(float))
            ends = []
            for _ in range(args.draws):
                draw = d.assign(kind="finetune", n_params=float(n), source=sd.source, target=sd.target,
                                stopped="early_stop", loss=mu * np.exp(rng.normal(0.0, sigma, len(d))))
                lo, hi = fit_gap_at_size(draw, float(n)).conf_int().loc["G"]
                ends.append((float(lo), float(hi)))
            e = np.array(ends)
            bounded = np.mean((e[:, 0] > 0) & np.isfinite(e[:, 1]))
            covers = np.mean((e[:, 0] <= g_true) & (g_true <= e[:, 1]))
            print(f"| {n:,.0f} | {name} | {len(d)} | {g_true:.3g} | {bounded:.2f} | {covers:.2f} | "
                  f"[{np.median(e[:, 0]):.3g}, {np.median(e[:, 1]):.3g}] |", flush=True)
    print(f"noise: each size's own log-residual spread of the Barnett fit (σ ≈ {sigma:.3f} at the last size)")


if __name__ == "__main__":
    main()
