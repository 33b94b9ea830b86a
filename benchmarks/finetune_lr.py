"""Is the transfer-gap law's lack of fit made by the fine-tuning learning rate? `cpu` against two lower fine-tuning LRs.

The `cpu` profile fine-tunes at the from-scratch peak LR (3e-3). Many of its small-f
fine-tunes are best inside warm-up, before that peak, so what they report depends on how
far up the warm-up they got; that bends the loss in f, which the law's f^−β cannot follow.
The experiment profiles (``benchmarks/profiles/ft-lr-*.toml``) repeat `cpu`'s fine-tunes
of one pair at N = 25k (seeds 0-2, the p grid, f = 2k/8k/32k) at lower LRs, from the same
pre-training runs. Per LR this prints where the fine-tunes were best (warm-up, stable,
cooldown), the mean loss per f and its change against `cpu` (paired by seed and p, with
the standard error over those pairs), and the Barnett fit of each: G with its χ²₁
interval, β, and the lack-of-fit test against the seeds (``gap.GapNoise``), beside the
best form by AICc (``laws.compare_laws``). `cpu` is read on the same points (its f = 65k
runs and grid seeds left out), so all three fits read the same design.

    .venv/bin/transfer-laws sweep --source code --target python \\
        --profile benchmarks/profiles/ft-lr-1e-3.toml --results results/experiments/finetune-lr --workers 2
    (the same with ft-lr-3e-4.toml), then
    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/finetune_lr.py --source code --target python
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from transfer_laws.analysis import read_study
from transfer_laws.gap import fit_gap_at_size, gap_points, residual_noise
from transfer_laws.laws import compare_laws

EXPERIMENTS = ("benchmarks/profiles/ft-lr-1e-3.toml", "benchmarks/profiles/ft-lr-3e-4.toml")


def finetunes(source: str, target: str, profile: str, results: str, seeds, n_target: int) -> pd.DataFrame:
    """The study's fine-tunes at ``n_target`` by ``seeds``: (p, f, seed, loss, LR, phase)."""
    sd = read_study(source, target, profile, results)
    rows = [{"pretrain_tokens": float(r["config"]["pretrain_tokens"]), "tokens": float(r["config"]["tokens"]),
             "seed": r["config"]["seed"], "loss": r["result"]["loss"], "lr": r["config"]["train"]["lr"],
             "phase": r["result"]["best_phase"], "n_params": float(r["result"]["n_params"]), "kind": "finetune"}
            for r in sd.records if r["config"]["kind"] == "finetune" and r["config"]["n_target"] == n_target
            and r["config"]["seed"] in seeds]
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--results", default="results")
    ap.add_argument("--experiments", default="results/experiments/finetune-lr")
    ap.add_argument("--size", type=int, default=25000, help="the model size the experiment ran at (n_target)")
    args = ap.parse_args()

    frames = {"cpu": finetunes(args.source, args.target, "cpu", args.results, (0, 1, 2), args.size)}
    for prof in EXPERIMENTS:
        frames[prof] = finetunes(args.source, args.target, prof, args.experiments, (0, 1, 2), args.size)
    design = frames[EXPERIMENTS[0]][["pretrain_tokens", "tokens", "seed"]]
    keys = ["pretrain_tokens", "tokens", "seed"]
    base = frames["cpu"].merge(design, on=keys)
    print(f"{args.source} → {args.target}, N ≈ {args.size:,}: {len(design)} fine-tunes per LR "
          f"({design['pretrain_tokens'].nunique()} p × {design['tokens'].nunique()} f × {design['seed'].nunique()} seeds)")
    print("| fine-tuning LR | runs | best in warm-up, by f | mean loss by f (nats) | change vs 3e-3 by f "
          "(paired, ± s.e.) | G [95%, χ²₁] | β | lack-of-fit F (p) | σ misfit / σ run | best form by AICc |")
    print("|---:|---:|---|---|---|---|---:|---|---|---|")
    for name, d in frames.items():
        d = d.merge(design, on=keys)
        if len(d) < len(design):
            print(f"| {name} | {len(d)} | (incomplete: {len(design) - len(d)} of {len(design)} runs to come) |")
            continue
        fs = sorted(d["tokens"].unique())
        warm = ", ".join(f"{(d.loc[d['tokens'] == f, 'phase'] == 'warmup').mean():.0%}" for f in fs)
        mean = ", ".join(f"{d.loc[d['tokens'] == f, 'loss'].mean():.3f}" for f in fs)
        paired = d.merge(base, on=keys, suffixes=("", "_cpu"))
        paired["diff"] = paired["loss"] - paired["loss_cpu"]
        change = ", ".join(f"{g['diff'].mean():+.3f} ± {g['diff'].std(ddof=1) / np.sqrt(len(g)):.3f}"
                           for _, g in paired.groupby("tokens")) if name != "cpu" else "–"
        n = float(d["n_params"].iloc[0])
        pts = gap_points(d)[n]
        fit = fit_gap_at_size(pts, n)
        lo, hi = fit.conf_int().loc["G"]
        z = residual_noise(fit, pts)
        best = compare_laws(pts, n_params=n).iloc[0]["law"]
        lr = d["lr"].iloc[0]
        print(f"| {lr:g} | {len(d)} | {warm} | {mean} | {change} | {fit.params['G']:.3g} "
              f"[{f'{lo:.3g}' if lo > 0 else '0'}, {f'{hi:.3g}' if np.isfinite(hi) else '∞'}] | "
              f"{fit.params['beta']:.3g} | {z.lof_F:.3g} ({z.lof_p:.2g}) | {z.cell:.3f} / {z.within:.3f} | {best} |")
    print(f"f values: {', '.join(f'{f:,.0f}' for f in sorted(design['tokens'].unique()))}")


if __name__ == "__main__":
    main()
