"""Is the transfer-gap law's lack of fit made by the fine-tuning learning rate? `cpu` against lower fine-tuning LRs.

The `cpu` profile fine-tunes at the from-scratch peak LR (3e-3). Many of its small-f
fine-tunes are best inside warm-up, before that peak, so what they report depends on how
far up the warm-up they got; that bends the loss in f, which the law's f^−β cannot follow.
The experiment profiles (``benchmarks/profiles/ft-lr-*.toml``) repeat `cpu`'s fine-tunes
of one pair at N = 25k (seeds 0-2, the p grid, f = 2k/8k/32k; at 1e-4 seed 0 only) at
lower LRs, from the same pre-training runs (the experiment's results folder holds copies of `cpu`'s records of
those pre-training and from-scratch runs: same configs, same run ids). Per LR this prints
where the fine-tunes were best (warm-up, stable, cooldown), the mean loss per f and its
change against `cpu` (paired by seed and p; the standard error is over the seeds' means,
since a seed's runs at one f share its D_F subset), and the Barnett fit of each: G with
its χ²₁ interval, β, and the lack-of-fit tests against the seeds (``gap.misfit_tests``),
beside the best form by AICc (``laws.compare_laws``). `cpu` is read on the same planned
points (its f = 65k runs and grid seeds left out), so the fits read one design.

    .venv/bin/transfer-laws sweep --source code --target python \\
        --profile benchmarks/profiles/ft-lr-1e-3.toml --results results/experiments/finetune-lr --workers 2
    (the same with ft-lr-3e-4.toml and ft-lr-1e-4.toml), then
    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/finetune_lr.py --source code --target python
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from transfer_laws.analysis import read_study
from transfer_laws.gap import fit_gap_at_size, gap_points, misfit_tests, misfit_text, residual_noise
from transfer_laws.laws import compare_laws
from transfer_laws.study import Study
from gap_seeds import ends

EXPERIMENTS = tuple(str(Path(__file__).parent / "profiles" / f"ft-lr-{lr}.toml") for lr in ("1e-3", "3e-4", "1e-4"))
KEYS = ["pretrain_tokens", "tokens", "seed"]


def finetunes(source: str, target: str, profile: str, results: str, n_target: int) -> pd.DataFrame:
    """The study's fine-tunes at ``n_target``: (p, f, seed, loss, LR, phase)."""
    sd = read_study(source, target, profile, results)
    rows = [{"pretrain_tokens": float(r["config"]["pretrain_tokens"]), "tokens": float(r["config"]["tokens"]),
             "seed": r["config"]["seed"], "loss": r["result"]["loss"], "lr": r["config"]["train"]["lr"],
             "phase": r["result"]["best_phase"], "n_params": float(r["result"]["n_params"]), "kind": "finetune"}
            for r in sd.records if r["config"]["kind"] == "finetune" and r["config"]["n_target"] == n_target]
    return pd.DataFrame(rows, columns=KEYS + ["loss", "lr", "phase", "n_params", "kind"])


def planned(source: str, target: str, profile: str, n_target: int) -> pd.DataFrame:
    """The (p, f, seed) of the fine-tunes a profile plans at ``n_target``."""
    cs = [c for c in Study.from_names(source, target, profile).configs()
          if c["kind"] == "finetune" and c["n_target"] == n_target]
    return pd.DataFrame([(float(c["pretrain_tokens"]), float(c["tokens"]), c["seed"]) for c in cs], columns=KEYS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--results", default="results")
    ap.add_argument("--experiments", default="results/experiments/finetune-lr")
    ap.add_argument("--size", type=int, default=25000, help="the model size the experiment ran at (n_target)")
    args = ap.parse_args()

    designs = {prof: planned(args.source, args.target, prof, args.size) for prof in EXPERIMENTS}
    designs = {"cpu": designs[EXPERIMENTS[0]], **designs}  # cpu read on the experiments' points
    frames = {"cpu": finetunes(args.source, args.target, "cpu", args.results, args.size)}
    for prof in EXPERIMENTS:
        frames[prof] = finetunes(args.source, args.target, prof, args.experiments, args.size)
    base = frames["cpu"]
    print(f"{args.source} → {args.target}, N ≈ {args.size:,}: each LR's planned fine-tunes (p × f × seeds), "
          f"`cpu` read on the same points")
    print("| fine-tuning LR | runs (seeds) | best in warm-up, by f | mean loss by f (nats) | change vs 3e-3 by f "
          "(± s.e. over the seeds' means; each seed's mean) | G [95%, χ²₁] | β [95%] | lack of fit: p of f / p / p × f (all: ×3) "
          "| σ misfit / σ run | best form by AICc |")
    print("|---:|---:|---|---|---|---|---|---|---|---|")
    for name, d in frames.items():
        design = designs[name]
        d = d.merge(design, on=KEYS)
        if len(d) < len(design):
            print(f"| {name} | {len(d)} | (incomplete: {len(design) - len(d)} of {len(design)} planned runs to come) |")
            continue
        fs = sorted(d["tokens"].unique())
        warm = ", ".join(f"{(d.loc[d['tokens'] == f, 'phase'] == 'warmup').mean():.0%}" for f in fs)
        mean = ", ".join(f"{d.loc[d['tokens'] == f, 'loss'].mean():.3f}" for f in fs)
        paired = d.merge(base, on=KEYS, suffixes=("", "_cpu"))
        paired["diff"] = paired["loss"] - paired["loss_cpu"]
        by_seed = paired.groupby(["tokens", "seed"])["diff"].mean()
        change = ", ".join(f"{g.mean():+.3f}" + (f" ± {g.std(ddof=1) / np.sqrt(len(g)):.3f}" if len(g) > 1 else "")
                           + f" (seed {', '.join(f'{sd}: {v:+.3f}' for (_, sd), v in g.items())})"
                           for _, g in by_seed.groupby(level=0)) if name != "cpu" else "–"
        n = float(d["n_params"].iloc[0])
        pts = gap_points(d)[n]
        fit = fit_gap_at_size(pts, n)
        ci = fit.conf_int()
        z, m = residual_noise(fit, pts), misfit_tests(fit, pts)
        best = compare_laws(pts, n_params=n).iloc[0]["law"]
        print(f"| {d['lr'].iloc[0]:g} | {len(d)} ({d['seed'].nunique()}) | {warm} | {mean} | {change} | {fit.params['G']:.3g} "
              f"{ends(*ci.loc['G'])} | {fit.params['beta']:.3g} {ends(*ci.loc['beta'])} | "
              f"{misfit_text(m)} | {z.cell:.3f} / {z.within:.3f} | {best} |")
    print(f"f values: {', '.join(f'{f:,.0f}' for f in sorted(designs['cpu']['tokens'].unique()))}")


if __name__ == "__main__":
    main()
