"""What would bound the transfer gap G: its calibrated interval on synthetic runs drawn from a study's own fit.

For each model size of a study that has a p grid (``--size`` picks one), the Barnett law
is fitted to the real fine-tunes (the truth, at its point estimate: G is not identified
where the real interval is open, and power depends on where in that range the truth
lies). The noise is read off the fit's log-residuals (``gap.residual_noise``: offsets a
seed's runs share at that size, at one f and at one p, the law's lack of fit as an
offset every seed shares at one (p, f), and the scatter left). Synthetic studies are
drawn (``gap.calibrate_gap`` with ``closure``) on:

- the design as run (its (p, f, seed) points, read off the records);
- 4× the seeds, the lack of fit drawn as measured (which more seeds do not shrink);
- the design as run with no lack of fit: what a form that fits the runs would give,
  if it had this truth and this noise otherwise;
- hypothetically, the p grid extended by two ×4 steps beyond its top (that needs a source
  16× larger than any built-in one, and the truth there is the fitted law extrapolated).

Each design's critical value is the 95th percentile of its own draws' profile statistic
at the true G (never below χ²₁'s 3.84), as the book's calibration does on the design as
run; the script prints, per design, that critical value, how often G's interval closes
on both sides at it, and among those draws how often it covers the true G (an open
interval covers trivially), each with a Wilson 95% interval over the draws.

    .venv/bin/python benchmarks/gap_power.py --source english --target python --draws 100 --size 25472
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from transfer_laws.analysis import read_study
from transfer_laws.gap import GapNoise, calibrate_gap, gap_points, residual_noise
from transfer_laws.laws import fit_barnett
from study_args import study_parser


def designs(pts: pd.DataFrame, noise: GapNoise) -> dict[str, tuple[pd.DataFrame, GapNoise]]:
    """(p, f, seed) rows and noise of the design as run and of the alternatives."""
    run = pts[["pretrain_tokens", "tokens", "seed"]].drop_duplicates().reset_index(drop=True)
    seeds = sorted(run["seed"].unique())
    ps, fs = sorted(run["pretrain_tokens"].unique()), sorted(run["tokens"].unique())

    def grid(p_values, f_values, seed_values):
        return pd.DataFrame([(p, f, s) for p in p_values for f in f_values for s in seed_values],
                            columns=["pretrain_tokens", "tokens", "seed"])

    more_seeds = pd.concat([run.assign(seed=run["seed"] + k * 1000) for k in range(4)], ignore_index=True)
    p_ext = pd.concat([run, grid([ps[-1] * 4, ps[-1] * 16], [f for f in fs if (run["tokens"] == f).sum() > len(seeds)],
                                 seeds)], ignore_index=True)
    return {"as run": (run, noise), "4x seeds": (more_seeds, noise),
            "as run, no lack of fit (a form that fits)": (run, replace(noise, cell=0.0)),
            "p grid x16 beyond its top (hypothetical)": (p_ext, noise)}


def share(hits: int, n: int) -> str:
    """hits/n with its Wilson 95% interval."""
    if n == 0:
        return "–"
    z, p = 1.96, hits / n
    mid, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{p:.2f} [{max(mid - half, 0.0):.2f}, {min(mid + half, 1.0):.2f}]"


def main() -> None:
    ap = study_parser(__doc__)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--size", type=float, action="append", help="only this N (repeatable; default: every size)")
    args = ap.parse_args()

    sd = read_study(args.source, args.target, args.profile, args.results)
    print(f"study {sd.name}: {len(sd.records)} of {sd.planned} planned runs; {args.draws} draws per design")
    print("| N | design | runs | G true | σ seed / (seed, f) / (seed, p) / lack of fit / within | critical value "
          "| G's interval closes | covers, closed draws only | wall (s) |")
    print("|---:|---|---:|---:|---|---:|---|---|---:|")
    for n, pts in gap_points(sd.runs).items():
        if args.size and float(n) not in args.size:
            continue
        truth = fit_barnett(pts, n_boot=0, n_params=float(n))
        noise = residual_noise(truth, pts)
        for name, (d, nz) in designs(pts, noise).items():
            e = calibrate_gap(pts, float(n), args.draws, seed=0, closure=True, design=d, noise=nz)
            closed, covering = e["closed_calibrated"], e["closed_covering_calibrated"]
            print(f"| {n:,.0f} | {name} | {e['runs']} | {e['G_true']:.3g} | {nz.seed:.3f} / {nz.seed_f:.3f} / "
                  f"{nz.seed_p:.3f} / {nz.cell:.3f} / {nz.within:.3f} | {e['critical']:.3g} | "
                  f"{share(closed, e['draws'])} | {share(covering, closed)} ({closed}) | {e['wall_s']:.0f} |", flush=True)
    print("σ in log-loss (transfer_laws.gap.residual_noise). The critical value is each design's own: the 95th "
          "percentile of its draws' statistic at the true G (never below 3.84).")


if __name__ == "__main__":
    main()
