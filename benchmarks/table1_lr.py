"""Does Table 1 depend on the fine-tuning learning rate? `cpu` (fine-tunes at 3e-3) against the same design fine-tuned at 3e-4.

The `cpu` profile fine-tunes at the from-scratch peak LR, 3e-3; the fine-tuning LR
experiment (``finetune_lr.py``, code → python at N = 25k) found fine-tunes at D_F ≥ 8k
better at 3e-4 by more than their noise, and 1e-4 no better than 3e-4. Every number of
Table 1 goes through the fine-tuned losses (D_T = D_E − D_F), so this repeats `cpu`'s
Hernandez design (5 sizes, seeds 0-2, D_F = 2k..64k at the main p) fine-tuned at 3e-4
(``profiles/table1-ft-3e-4.toml``; its folder holds copies of `cpu`'s from-scratch and
shared pre-training records). Read as the profile says, decided before any run:

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
from pathlib import Path

import numpy as np
import pandas as pd

from transfer_laws.analysis import read_study
from transfer_laws.errors import InputError
from transfer_laws.laws import compare_sources, fit_hernandez
from transfer_laws.precision import WIDTH_TARGET

EXPERIMENT = str(Path(__file__).parent / "profiles" / "table1-ft-3e-4.toml")
KEYS = ["n_params", "tokens", "seed"]


def finetune_table(sd) -> pd.DataFrame:
    """The study's fine-tunes at its main p and seeds: (N, D_F, seed, loss, LR, phase)."""
    rows = [{"n_params": float(r["result"]["n_params"]), "tokens": float(r["config"]["tokens"]),
             "seed": r["config"]["seed"], "loss": r["result"]["loss"], "lr": r["config"]["train"]["lr"],
             "phase": r["result"]["best_phase"]}
            for r in sd.records if r["config"]["kind"] == "finetune"
            and float(r["config"]["pretrain_tokens"]) == sd.main_p and r["config"]["seed"] in sd.seeds]
    return pd.DataFrame(rows, columns=KEYS + ["loss", "lr", "phase"])


def interval(fit, name: str) -> tuple[float, float, float]:
    lo, hi = fit.conf_int().loc[name]
    return float(fit.params[name]), float(lo), float(hi)


def ends(est: float, lo: float, hi: float, fmt: str = ".3g") -> str:
    e = lambda v: f"{v:{fmt}}" if np.isfinite(v) else ("−∞" if v < 0 else "∞")  # noqa: E731
    return f"{est:{fmt}} [{e(lo)}, {e(hi)}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", action="append", required=True, help="a source pre-trained on (repeatable)")
    ap.add_argument("--target", default="python")
    ap.add_argument("--results", default="results")
    ap.add_argument("--experiments", default="results/experiments/table1-ft-lr")
    args = ap.parse_args()

    table, changes, losses = [], [], []
    for source in args.source:
        base = read_study(source, args.target, "cpu", args.results)
        exp = read_study(source, args.target, EXPERIMENT, args.experiments)
        pair = f"{source} → {args.target}"
        missing = [c for c in exp.unrecorded if c["kind"] == "finetune"]
        if missing or not exp.main_complete:
            print(f"{pair}: the experiment is incomplete ({len(exp.unrecorded)} of {exp.planned} planned runs to come); "
                  "rerun the sweep, then this.")
            continue
        lr_of = {}
        for sd in (base, exp):
            ft = finetune_table(sd)
            lr = float(ft["lr"].iloc[0])
            lr_of[sd.profile] = lr
            fit = fit_hernandez(sd.main_runs, n_boot=0)
            row = {"pair": pair, "fine-tuning LR": f"{lr:g}", "runs": len(sd.main_runs)}
            for name, sym in (("k", "k"), ("alpha", "α"), ("beta", "β")):
                est, lo, hi = interval(fit, name)
                row[sym] = ends(est, lo, hi, ".3g")
                if name != "k":
                    row[f"{sym} width"] = f"{hi - lo:.3f}" + (" ✓" if hi - lo <= WIDTH_TARGET else "")
            warm = ft.groupby("tokens")["phase"].apply(lambda s: (s == "warmup").mean())
            row["best in warm-up, by D_F"] = ", ".join(f"{v:.0%}" for v in warm)
            table.append(row)

        # the loss change, paired by (N, D_F, seed); a seed's runs share its data subset
        a, b = finetune_table(exp), finetune_table(base)
        paired = a.merge(b, on=KEYS, suffixes=("", "_base"))
        paired["diff"] = paired["loss"] - paired["loss_base"]
        by_seed = paired.groupby(["tokens", "seed"])["diff"].mean()
        for f, g in by_seed.groupby(level=0):
            losses.append({"pair": pair, "D_F": f"{f:,.0f}", "runs": int((paired["tokens"] == f).sum()),
                           "mean loss at 3e-3": f"{paired.loc[paired['tokens'] == f, 'loss_base'].mean():.3f}",
                           "change (nats, ± s.e. over seeds)": f"{g.mean():+.3f} ± {g.std(ddof=1) / np.sqrt(len(g)):.3f}",
                           "each seed": ", ".join(f"{v:+.3f}" for v in g)})

        # one joint fit sharing the from-scratch curve, the LR as the "source"
        la, lb = f"{source} @ {lr_of[exp.profile]:g}", f"{source} @ {lr_of['cpu']:g}"
        ea, eb = exp.main_runs.copy(), base.main_runs.copy()
        ea.loc[ea["kind"] == "finetune", "source"] = la
        eb.loc[eb["kind"] == "finetune", "source"] = lb
        both = pd.concat([eb, ea[ea["kind"] == "finetune"]], ignore_index=True)
        try:
            d = compare_sources(both, source_a=la, source_b=lb, n_boot=0)
        except InputError as e:
            changes.append({"pair": pair, "change": f"no joint fit ({e})"})
            continue
        ci = d.conf_int()
        row = {"pair": pair}
        for k, sym in (("log_k_diff", "log k"), ("alpha_diff", "α"), ("beta_diff", "β")):
            if k not in d.params:
                continue
            lo, hi = float(ci.loc[k, 0]), float(ci.loc[k, 1])
            moved = "moves" if lo > 0 or hi < 0 else "no change shown"
            row[f"{sym}(3e-4) − {sym}(3e-3)"] = f"{ends(float(d.params[k]), lo, hi)}: {moved}"
        changes.append(row)

    for title, rows in (("Table 1 at each fine-tuning LR (95% profile intervals; ✓: width ≤ "
                         f"{WIDTH_TARGET})", table),
                        ("The change of the constants, one joint fit per pair (3e-4 minus 3e-3)", changes),
                        ("The fine-tuned loss, 3e-4 minus 3e-3, paired by (N, D_F, seed)", losses)):
        print(f"\n{title}\n")
        print(pd.DataFrame(rows).to_markdown(index=False) if rows else "(nothing yet)")


if __name__ == "__main__":
    main()
