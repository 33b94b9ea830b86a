"""The fits' speed and calibration, printed as the tables in benchmarks/README.md.

- speed: the full Hernandez fit with intervals (profile likelihood + 200 seed-cluster
  resamples) for one pair on the planned `cpu` design (target: under 30 s on 2 cores),
  the two-source comparison, `fit scratch` with 1,000 resamples, the transfer-gap fits;
- calibration: over ``--draws`` synthetic studies that mirror the design (5 sizes, ×2
  grids, 3 seeds, measured noise), how often the 95% intervals of k, α, β cover the
  truth, and the bias of the estimates in units of the interval width, for the right
  model, a misspecified one (a from-scratch curve with a kink like the v1 token cap),
  and a design with censored (``budget``) runs; ``--scratch-form`` picks each size's
  from-scratch curve in the fit (default: the fit's, a spline through each size's runs;
  ``power_law`` is the form it replaced).

    PYTHONPATH=src .venv/bin/python benchmarks/fitting.py [--draws 100] [--scratch-form power_law]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from transfer_laws.laws import compare_sources, fit_barnett, fit_hernandez, fit_scratch_law
from transfer_laws.laws.hernandez_loss import SCRATCH_FORMS
from transfer_laws.synthetic import Truth, barnett_runs, chinchilla_runs, design_runs

SCENARIOS = {
    "right model": (Truth(), {}),
    "kink above D = 131k (misspecified)": (Truth(kink_tokens=131072), {}),
    "runs at D ≥ 262k censored (budget, +0.05 nats)": (Truth(), {"budget_tokens": 262144, "budget_gap": 0.05}),
}


def speed() -> None:
    runs = design_runs(seed=1)
    t = time.perf_counter()
    fit = fit_hernandez(runs, n_boot=200)
    th = time.perf_counter() - t
    print(f"hernandez (loss space): {len(runs)} runs, profile intervals + 200 seed-cluster resamples: {th:.1f} s "
          f"(alpha {fit.params['alpha']:.3f}, beta {fit.params['beta']:.3f})")
    b = design_runs(Truth(alpha=0.3, k=30.0), seed=2, source="B")
    both = pd.concat([design_runs(seed=1, source="A"), b[b["kind"] == "finetune"]], ignore_index=True)
    t = time.perf_counter()
    compare_sources(both, "A", "B", n_boot=200)
    print(f"compare two sources (joint fit, profile + 200 joint resamples): {len(both)} runs, "
          f"{time.perf_counter() - t:.1f} s")
    c = chinchilla_runs(seed=1)
    t = time.perf_counter()
    fit = fit_scratch_law(c, n_boot=1000)
    print(f"fit scratch (chinchilla): {len(c)} runs, 3,600-point start grid + 1,000 resamples: "
          f"{time.perf_counter() - t:.1f} s")
    g = barnett_runs(p_grid=np.geomspace(1e5, 1e8, 10), f_grid=np.geomspace(1e3, 1e7, 20))
    t = time.perf_counter()
    fit = fit_barnett(g, n_boot=0, profile=True)
    print(f"barnett: {len(g)} runs, start grid + profile intervals of all 5 constants: "
          f"{time.perf_counter() - t:.1f} s")


def calibration(draws: int, n_boot: int, scratch_form: str) -> None:
    print(f"\nfrom-scratch curve per size: {scratch_form}")
    print(f"\n| case | draws | constant | coverage (profile) | coverage (seed bootstrap) | bias / width "
          f"| median width | s.d. of estimates |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for name, (truth, options) in SCENARIOS.items():
        rows = []
        t = time.perf_counter()
        for draw in range(draws):
            fit = fit_hernandez(design_runs(truth, seed=10_000 + draw, **options), n_boot=n_boot,
                                scratch_form=scratch_form)
            prof, boot = fit.conf_int(), fit.conf_int(method="bootstrap") if n_boot else None
            for k in ("k", "alpha", "beta"):
                true = getattr(truth, k)
                tr = np.log if k == "k" else (lambda v: v)  # k on the log scale
                rows.append({"constant": k, "est": tr(fit.params[k]) - tr(true),
                             "width": tr(prof.loc[k, 1]) - tr(prof.loc[k, 0]),
                             "profile": prof.loc[k, 0] <= true <= prof.loc[k, 1],
                             "boot": (boot.loc[k, 0] <= true <= boot.loc[k, 1]) if boot is not None else np.nan})
        per = (time.perf_counter() - t) / draws
        df = pd.DataFrame(rows)
        for k, g in df.groupby("constant", sort=False):
            label = "log k" if k == "k" else k
            print(f"| {name} | {draws} | {label} | {g['profile'].mean():.2f} | {g['boot'].mean():.2f} | "
                  f"{g['est'].mean() / g['width'].median():+.3f} | {g['width'].median():.3f} | {g['est'].std():.3f} |")
        print(f"|  | | ({per:.1f} s per draw) | | | | | |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--bootstrap", type=int, default=200, help="seed-cluster resamples per draw")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--scratch-form", default="spline", choices=SCRATCH_FORMS)
    args = ap.parse_args()
    if not args.skip_speed:
        speed()
    calibration(args.draws, args.bootstrap, args.scratch_form)


if __name__ == "__main__":
    main()
