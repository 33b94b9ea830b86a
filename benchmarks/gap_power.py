"""What would bound the transfer gap G: its profile interval on synthetic runs drawn from a study's own fit.

For each model size of a study that has a p grid, the Barnett law is fitted to the real
fine-tunes (the truth, at its point estimate: G is not identified where the real interval
is open, and power depends on where in that range the truth lies). The noise is read off
the fit's log-residuals (``gap.residual_noise``): an offset each seed shares across its
runs at that size (one pre-training pass gives a seed every p) and at one f (one D_F
subset), the law's lack of fit as an offset every seed shares at one (p, f) (which more
seeds do not shrink), and the scatter left. Synthetic studies are drawn on the
design as run (its (p, f) points and seeds, read off the records), 4× the seeds, the f
grid extended to 131k at every p, and, hypothetically, the p grid extended by two ×4
steps beyond its top (that needs a source 16× larger than any built-in one, and the
truth there is the fitted law extrapolated). Each draw is fitted like the book fits the
real runs (``gap.fit_gap_at_size``: profile intervals), and the script prints, per design:
how often G's 95% interval is bounded on both sides, how often it covers the true G (an
interval open at an end covers trivially, so coverage among bounded draws is printed
too), each with a Wilson 95% interval over the draws, and the median interval ends.

    .venv/bin/python benchmarks/gap_power.py --source english --target python --draws 20
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from transfer_laws.analysis import read_study
from transfer_laws.gap import fit_gap_at_size, gap_points, noise_draw, residual_noise
from transfer_laws.laws import fit_barnett
from transfer_laws.laws.barnett import LAWS
from study_args import study_parser


def designs(pts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """(p, f, seed) rows of the design as run and of the alternatives."""
    run = pts[["pretrain_tokens", "tokens", "seed"]].drop_duplicates().reset_index(drop=True)
    seeds = sorted(run["seed"].unique())
    ps, fs = sorted(run["pretrain_tokens"].unique()), sorted(run["tokens"].unique())

    def grid(p_values, f_values, seed_values):
        return pd.DataFrame([(p, f, s) for p in p_values for f in f_values for s in seed_values],
                            columns=["pretrain_tokens", "tokens", "seed"])

    more_seeds = pd.concat([run.assign(seed=run["seed"] + k * 1000) for k in range(4)], ignore_index=True)
    f_ext = grid(ps, sorted(set(fs) | {65536, 131072}), seeds)
    p_ext = pd.concat([run, grid([ps[-1] * 4, ps[-1] * 16], [f for f in fs if (run["tokens"] == f).sum() > len(seeds)],
                                 seeds)], ignore_index=True)
    return {"as run": run, "4x seeds": more_seeds, "f to 131k at every p": f_ext,
            "p grid x16 beyond its top (hypothetical)": p_ext}


def share(hits: int, n: int) -> str:
    """hits/n with its Wilson 95% interval."""
    if n == 0:
        return "–"
    z, p = 1.96, hits / n
    mid, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{p:.2f} [{max(mid - half, 0.0):.2f}, {min(mid + half, 1.0):.2f}]"


def main() -> None:
    ap = study_parser(__doc__)
    ap.add_argument("--draws", type=int, default=20)
    args = ap.parse_args()

    sd = read_study(args.source, args.target, args.profile, args.results)
    form = LAWS["barnett"]
    print(f"study {sd.name}: {len(sd.records)} of {sd.planned} planned runs; {args.draws} draws per design")
    print("| N | design | runs | G true | σ seed / lack of fit / within | bounded | covers true G (all draws) "
          "| covers, bounded draws only | median G interval |")
    print("|---:|---|---:|---:|---|---|---|---|---|")
    pooled: dict[str, list[int]] = {}
    for n, pts in gap_points(sd.runs).items():
        truth = fit_barnett(pts, n_boot=0, n_params=float(n))
        noise = residual_noise(truth, pts)
        g_true = float(truth.params["G"])
        rng = np.random.default_rng(0)
        for name, d in designs(pts).items():
            tally = pooled.setdefault(name, [0, 0, 0])
            mu = form.fn(truth.params, d["pretrain_tokens"].to_numpy(float), d["tokens"].to_numpy(float))
            ends = []
            for _ in range(args.draws):
                draw = d.assign(kind="finetune", n_params=float(n), source=sd.source, target=sd.target,
                                stopped="early_stop", loss=mu * np.exp(noise_draw(rng, d, noise)))
                lo, hi = fit_gap_at_size(draw, float(n)).conf_int().loc["G"]
                ends.append((float(lo), float(hi)))
            e = np.array(ends)
            bounded = (e[:, 0] > 0) & np.isfinite(e[:, 1])
            covers = (e[:, 0] <= g_true) & (g_true <= e[:, 1])
            tally[0] += len(e)
            tally[1] += int(bounded.sum())
            tally[2] += int((covers & bounded).sum())
            print(f"| {n:,.0f} | {name} | {len(d)} | {g_true:.3g} | {noise.seed:.3f} / {noise.cell:.3f} / {noise.within:.3f} | "
                  f"{share(int(bounded.sum()), len(e))} | {share(int(covers.sum()), len(e))} | "
                  f"{share(int((covers & bounded).sum()), int(bounded.sum()))} ({int(bounded.sum())}) | "
                  f"[{np.median(e[:, 0]):.3g}, {np.median(e[:, 1]):.3g}] |", flush=True)
    for name, (draws, bounded, covered) in pooled.items():
        print(f"pooled over sizes, {name}: G bounded in {share(bounded, draws)} of {draws} draws; "
              f"of those, the interval covers the true G in {share(covered, bounded)}")
    print("σ in log-loss: the seed offset shared by a seed's runs at one size, the law's lack of fit shared by the "
          "seeds at one (p, f), and the scatter left (transfer_laws.gap.residual_noise; the (seed, f) offset is drawn "
          "too); an interval open at an end counts as covering.")


if __name__ == "__main__":
    main()
