"""Is G's profile interval calibrated on our design? The profile statistic at the true G, on synthetic runs.

For each model size of a study that has a p grid, ``gap.calibrate_gap`` takes the Barnett
law fitted to the real fine-tunes as the truth, draws synthetic fine-tunes on the design
as run (its (p, f, seed) points) with the parts of the fit's own residuals
(``gap.residual_noise``: seed, (seed, f) and (seed, p) offsets, the law's lack of fit as an offset
per (p, f) that every seed shares, and scatter), fits each draw as the book does, and once more with G held at the truth. The
truth lies inside a draw's 95% profile interval when that statistic is under χ²₁'s
3.84 (the fit held at the truth starts from the best fit only, which can only raise the
statistic), so the share under 3.84 is the interval's coverage, read without walking a
whole profile; the 95th percentile is the critical value a calibrated interval uses. The
draws' seed offset is its estimate from the residuals (a larger one enters σ̂ and lowers
the statistic, so an underestimate errs on the safe side). An interval open at an end
covers trivially, so ``--closure`` also walks each draw's profile as the book does and prints how often the interval closes and,
among those draws, how often it covers the truth (at 3.84 and at the calibrated value).

``--write`` stores the result as data beside the records (``results/calibration/``, with
the hash of the runs each size was drawn from and the provenance); the book then draws
G's interval at that critical value (never below 3.84), and falls back to 3.84 with a
note where the runs have changed since.

    .venv/bin/python benchmarks/gap_calibration.py --source code --target python --write
"""

from __future__ import annotations

import shlex
import sys

from tqdm.auto import tqdm

from transfer_laws.analysis import read_study
from transfer_laws.gap import CALIBRATION_DRAWS, calibrate_gap, gap_points, write_gap_calibration
from gap_power import share
from study_args import study_parser


def main() -> None:
    ap = study_parser(__doc__)
    ap.add_argument("--draws", type=int, default=CALIBRATION_DRAWS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="store the calibration under RESULTS/calibration/")
    ap.add_argument("--closure", action="store_true", help="also walk each draw's profile (slower): coverage "
                    "among the draws whose interval closes")
    args = ap.parse_args()

    sd = read_study(args.source, args.target, args.profile, args.results)
    print(f"study {sd.name}: {len(sd.records)} of {sd.planned} planned runs; {args.draws} draws on the design as run")
    if len(sd.records) < sd.planned and args.write:
        print("note: the study is not complete; a calibration of runs still to come is stale once they land")
    entries, lines = [], []
    for n, pts in gap_points(sd.runs).items():
        e = calibrate_gap(pts, n, args.draws, args.seed,
                          progress=lambda it: tqdm(it, desc=f"N={n:,.0f}", leave=False, file=sys.stderr),
                          closure=args.closure)
        entries.append(e)
        closure = "".join(f" {share(e[f'closed_{k}'], e['draws'])}; "
                          f"covering {share(e[f'closed_covering_{k}'], e[f'closed_{k}'])} |"
                          for k in ("chi2", "calibrated")) if args.closure else ""
        coverage = share(round(e["coverage_chi2"] * e["draws"]), e["draws"])
        lines.append(f"| {n:,.0f} | {e['runs']} | {e['G_true']:.3g} | {e['sigma_seed']:.3f} / {e['sigma_seed_f']:.3f} / {e['sigma_seed_p']:.3f} / {e['sigma_cell']:.3f} / {e['sigma_within']:.3f} | "
                     f"{e['lack_of_fit_F']:.3g} ({e['lack_of_fit_p']:.2g}) | "
                     f"{coverage} | {e['q50']:.2f}, {e['q90']:.2f}, {e['q95']:.2f} | {e['critical']:.2f} |" + closure)
    print("| N | runs | G true | σ seed / (seed, f) / (seed, p) / lack of fit / within (log-loss) | lack-of-fit F (p) | coverage of the χ²₁ 95% "
          "interval | statistic at the truth: median, 90th, 95th percentile | critical value used |"
          + (" closes at 3.84; covering among those | closes at the critical value; covering |" if args.closure else ""))
    print("|---:|---:|---:|---|---|---|---|---:|" + ("---|---|" if args.closure else ""))
    print("\n".join(lines))
    print("χ²₁: median 0.45, 90th 2.71, 95th 3.84. Coverage with its Wilson 95% interval over the draws.")
    if args.write and entries:
        cmd = "benchmarks/gap_calibration.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        path = write_gap_calibration(args.results, sd.source, sd.target, sd.profile, entries, cmd)
        print(f"written: {path}")


if __name__ == "__main__":
    main()
