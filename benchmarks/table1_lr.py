"""Does Table 1 depend on the fine-tuning learning rate? `cpu` (fine-tunes at 3e-3) against the same design fine-tuned at 3e-4.

The `cpu` profile fine-tunes at the from-scratch peak LR, 3e-3; the fine-tuning LR
experiment (``finetune_lr.py``, code → python at N = 25k) found fine-tunes at D_F ≥ 8k
better at 3e-4 by more than their noise, and 1e-4 no better than 3e-4. Every number of
Table 1 goes through the fine-tuned losses (D_T = D_E − D_F), so this repeats `cpu`'s
Hernandez design (5 sizes, seeds 0-2, D_F = 2k..64k at the main p) fine-tuned at 3e-4
(``profiles/table1-ft-3e-4.toml``; its folder holds copies of `cpu`'s from-scratch and
shared pre-training records). Read as the profile says, decided before any run
(``transfer_laws.lr_sensitivity``, which the Table 1 page also reads):

- Table 1's row at each LR: k, α, β with 95% profile intervals, and the widths against
  issue 13's 0.3 target;
- the change of log k, α and β (3e-4 minus 3e-3) from one joint fit that shares the
  from-scratch curve (``compare_sources``, the LR in the role of the source). The joint fit
  treats the two LRs' fine-tunes as independent; they share pre-training runs and data
  subsets, so their errors are positively correlated and the interval of a difference is
  conservative (too wide, not too narrow). A change is reported only where it excludes 0;
- the fine-tuned loss change per D_F, paired by (N, seed), ± the standard error over the
  3 seeds' means, and where the fine-tunes were best (the share inside warm-up).

    .venv/bin/transfer-laws sweep --source english --target python \\
        --profile benchmarks/profiles/table1-ft-3e-4.toml --results results/experiments/table1-ft-lr --workers 2
    (and --source english+code), then
    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/table1_lr.py --source english --source english+code
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from transfer_laws.analysis import read_study
from transfer_laws.errors import InputError
from transfer_laws.lr_sensitivity import CONSTANTS, EXPERIMENT_PROFILE, compare_lrs, experiment_results
from transfer_laws.precision import WIDTH_TARGET


def ends(est: float, lo: float, hi: float, fmt: str = ".3g") -> str:
    e = lambda v: f"{v:{fmt}}" if np.isfinite(v) else ("−∞" if v < 0 else "∞")  # noqa: E731
    return f"{est:{fmt}} [{e(lo)}, {e(hi)}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", action="append", required=True, help="a source pre-trained on (repeatable)")
    ap.add_argument("--target", default="python")
    ap.add_argument("--results", default="results")
    args = ap.parse_args()

    table, changes, losses = [], [], []
    for source in args.source:
        base = read_study(source, args.target, "cpu", args.results)
        other = read_study(source, args.target, EXPERIMENT_PROFILE, experiment_results(args.results))
        pair = f"{source} → {args.target}"
        if not other.main_complete:
            print(f"{pair}: the experiment is incomplete ({len(other.unrecorded)} of {other.planned} planned runs "
                  "to come); rerun the sweep, then this.")
            continue
        try:
            c = compare_lrs(base, other)
        except InputError as e:
            print(f"{pair}: no fit ({e})")
            continue
        for (_, r), warm in zip(c.constants().iterrows(), c.warmup):
            row = {"pair": pair, "fine-tuning LR": f"{r['fine-tuning LR']:g}"}
            for k, sym in (("k", "k"), ("alpha", "α"), ("beta", "β")):
                row[sym] = ends(r[k], r[f"{k}_low"], r[f"{k}_high"])
                if k != "k":
                    w = r[f"{k}_high"] - r[f"{k}_low"]
                    row[f"{sym} width"] = f"{w:.3f}" + (" ✓" if w <= WIDTH_TARGET else "")
            row["best in warm-up, by D_F"] = ", ".join(f"{v:.0%}" for v in warm)
            table.append(row)
        ci, moved = c.changes.conf_int(), c.moved()
        changes.append({"pair": pair, **{f"{sym}(3e-4) − {sym}(3e-3)": f"{ends(c.changes.params[k], ci.loc[k, 0], ci.loc[k, 1])}"
                                         f"{': moves' if moved[sym] else ''}" for k, sym in CONSTANTS}})
        for _, r in c.losses.iterrows():
            losses.append({"pair": pair, "D_F": f"{r['D_F']:,.0f}", "runs": r["runs"],
                           "mean loss at 3e-3": f"{r['loss at base LR']:.3f}",
                           "change (nats, ± s.e. over seeds)": f"{r['change']:+.3f} ± {r['se']:.3f}",
                           "each seed": r["by seed"]})

    for title, rows in ((f"Table 1 at each fine-tuning LR (95% profile intervals; ✓: width ≤ {WIDTH_TARGET})", table),
                        ("The change of the constants, one joint fit per pair (3e-4 minus 3e-3; moves: the "
                         "interval excludes 0)", changes),
                        ("The fine-tuned loss, 3e-4 minus 3e-3, paired by (N, D_F, seed)", losses)):
        print(f"\n{title}\n")
        print(pd.DataFrame(rows).to_markdown(index=False) if rows else "(nothing yet)")


if __name__ == "__main__":
    main()
