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
  ``power_law`` is the form it replaced);
- ``--like SOURCE:TARGET``: the same calibration on synthetic runs that look like that
  study (``synthetic.like_study``): its fitted from-scratch curves and k, α, β as the
  truth, the noise measured from its seeds (σ(N, D) per kind, σ_c), the planned design
  of ``--profile``; also on the runs recorded so far (the same (kind, N, D, seed) points
  as the records), and with censored runs; then the real fit's interval widths beside
  the synthetic median widths.

    PYTHONPATH=src .venv/bin/python benchmarks/fitting.py [--draws 100] [--scratch-form power_law]
    PYTHONPATH=src .venv/bin/python benchmarks/fitting.py --like english:python --results results --draws 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from transfer_laws.errors import InputError
from transfer_laws.laws import compare_sources, fit_barnett, fit_hernandez, fit_scratch_law
from transfer_laws.laws.hernandez_loss import SCRATCH_FORMS
from transfer_laws.synthetic import (Design, Truth, barnett_runs, chinchilla_runs, design_runs, like_study,
                                     restrict_to)

CONSTANTS = ("k", "alpha", "beta")
# name -> (truth, runs of one draw from its seed)
SCENARIOS = {
    "right model": (Truth(), lambda seed: design_runs(Truth(), seed=seed)),
    "kink above D = 131k (misspecified)": (Truth(kink_tokens=131072),
                                           lambda seed: design_runs(Truth(kink_tokens=131072), seed=seed)),
    "runs at D ≥ 262k censored (budget, +0.05 nats)": (
        Truth(), lambda seed: design_runs(Truth(), seed=seed, budget_tokens=262144, budget_gap=0.05)),
}


def _log_if_k(name: str):
    return np.log if name == "k" else (lambda v: v)  # k on the log scale


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


def calibration(draws: int, n_boot: int, scratch_form: str, scenarios: dict = SCENARIOS) -> dict[str, pd.DataFrame]:
    """Prints the table; returns each scenario's per-draw rows (constant, est − truth,
    width, covered)."""
    print(f"\nfrom-scratch curve per size: {scratch_form}")
    print(f"\n| case | draws | constant | coverage (profile) | coverage (seed bootstrap) | bias / width "
          f"| median width | s.d. of estimates |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    out = {}
    for name, (truth, draw_runs) in scenarios.items():
        rows, failed = [], 0
        t = time.perf_counter()
        for draw in range(draws):
            try:
                fit = fit_hernandez(draw_runs(10_000 + draw), n_boot=n_boot, scratch_form=scratch_form)
            except InputError:
                failed += 1
                continue
            prof, boot = fit.conf_int(), fit.conf_int(method="bootstrap") if n_boot else None
            for k in CONSTANTS:
                true = getattr(truth, k)
                tr = _log_if_k(k)
                with np.errstate(divide="ignore", over="ignore"):
                    rows.append({"constant": k, "est": tr(fit.params[k]) - tr(true),
                                 "width": tr(prof.loc[k, 1]) - tr(prof.loc[k, 0]),
                                 "profile": prof.loc[k, 0] <= true <= prof.loc[k, 1],
                                 "boot": (boot.loc[k, 0] <= true <= boot.loc[k, 1]) if boot is not None else np.nan})
        per = (time.perf_counter() - t) / draws
        df = out[name] = pd.DataFrame(rows)
        draws_done = draws - failed
        for k, g in df.groupby("constant", sort=False):
            label = "log k" if k == "k" else k
            print(f"| {name} | {draws_done} | {label} | {g['profile'].mean():.2f} | {g['boot'].mean():.2f} | "
                  f"{g['est'].mean() / g['width'].median():+.3f} | {g['width'].median():.3f} | {g['est'].std():.3f} |")
        note = f"; {failed} draws the fit refused (InputError)" if failed else ""
        print(f"|  | | ({per:.1f} s per draw{note}) | | | | | |")
    return out


def like_scenarios(pair: str, profile: str, results: str, scratch_form: str | None = None):
    """The study's fit, and the scenarios drawn like it. ``scratch_form``: the fit's
    from-scratch curves (default: the study's choice, ``load_study``)."""
    from transfer_laws.analysis import load_study

    source, target = pair.split(":")
    sd = load_study(source, target, profile, results, n_boot=0)
    if sd.hernandez is None:
        raise SystemExit(f"{sd.name}: no Hernandez fit yet: {' '.join(sd.missing.values())}")
    fit = sd.hernandez
    if scratch_form not in (None, fit.info["scratch_form"]):  # the truth in the asked-for form
        print(f"the study chose {fit.info['scratch_form']} from-scratch curves; the truth is refitted with {scratch_form}")
        fit = fit_hernandez(sd.main_runs, n_boot=0, profile=True, scratch_form=scratch_form)
    like = like_study(sd.main_runs, fit, Design.from_profile(profile))
    truth, noise, design = like.truth, like.noise, like.design
    runs = sd.main_runs
    print(f"study {sd.name}: {len(sd.records)} of {sd.planned} planned runs; main-p runs per kind and seed: "
          + ", ".join(f"{k} seed {s}: {n}" for (k, s), n in runs.groupby(['kind', 'seed']).size().items()))
    print(f"truth (the study's fit, {fit.info['scratch_form']} from-scratch curves): k {truth.k:.4g}, "
          f"α {truth.alpha:.3f}, β {truth.beta:.3f}; dispersion {fit.info['dispersion']:.2f}")
    cells = runs[runs["stopped"] != "budget"][["kind", "n_params", "tokens"]].drop_duplicates()
    sigma = noise.model.sd(cells["kind"].to_numpy(), cells["n_params"].to_numpy(), cells["tokens"].to_numpy())
    print("noise (measured from the seeds): σ(N, D) over the recorded cells, median [min, max]: "
          + ", ".join(f"{k} {np.median(sigma[m]):.3f} [{sigma[m].min():.3f}, {sigma[m].max():.3f}]"
                      for k in ("scratch", "finetune") for m in [cells["kind"].to_numpy() == k] if m.any())
          + "; σ_c: " + ", ".join(f"{k} {v:.3f} ({noise.model.cluster_df.get(k, 0)} df)"
                                   for k, v in noise.model.cluster.items()))
    print(f"design: profile {profile}: {len(design.sizes)} sizes, {len(design.scratch_tokens)} from-scratch D, "
          f"{len(design.finetune_tokens)} D_F, seeds {design.seeds}")

    def planned(seed, **options):
        return design_runs(truth, design, noise, seed=seed, source=source, target=target, **options)

    scenarios = {f"like {pair}: planned design, right model": (truth, planned)}
    if not sd.main_complete:  # a complete study's recorded runs are the planned design
        scenarios[f"like {pair}: the runs recorded so far, right model"] = (
            truth, lambda seed: restrict_to(planned(seed), runs))
    scenarios[f"like {pair}: planned design, D ≥ 262k censored (+0.05 nats)"] = (
        truth, lambda seed: planned(seed, budget_tokens=262144, budget_gap=0.05))
    return fit, scenarios


def compare_widths(fit, results: dict[str, pd.DataFrame]) -> None:
    """The real fit's profile widths beside the synthetic median widths, and the share of
    draws whose interval was at least as wide as the real one."""
    ci = fit.conf_int()
    names = list(results)
    print("\n| constant | real fit: estimate [95% profile] | real width | "
          + " | ".join(f"median width (share ≥ real), {n}" for n in names) + " |")
    print("|---|---|---:|" + "---:|" * len(names))
    for k in CONSTANTS:
        tr = _log_if_k(k)
        with np.errstate(divide="ignore", over="ignore"):
            width = tr(ci.loc[k, 1]) - tr(ci.loc[k, 0])
        label = "log k" if k == "k" else k
        est = f"{tr(fit.params[k]):.3f} [{tr(ci.loc[k, 0]):.3f}, {tr(ci.loc[k, 1]):.3f}]"
        widths = [results[n].loc[results[n]["constant"] == k, "width"] for n in names]
        print(f"| {label} | {est} | {width:.3f} | "
              + " | ".join(f"{w.median():.3f} ({(w >= width).mean():.2f})" for w in widths) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--bootstrap", type=int, default=200, help="seed-cluster resamples per draw")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--scratch-form", choices=SCRATCH_FORMS,
                    help="default: spline; with --like, the study's chosen form")
    ap.add_argument("--like", metavar="SOURCE:TARGET", help="calibrate on synthetic runs like this study")
    ap.add_argument("--results", default="results")
    ap.add_argument("--profile", default="cpu")
    args = ap.parse_args()
    if args.like:
        fit, scenarios = like_scenarios(args.like, args.profile, args.results, args.scratch_form)
        compare_widths(fit, calibration(args.draws, args.bootstrap, fit.info["scratch_form"], scenarios))
        return
    if not args.skip_speed:
        speed()
    calibration(args.draws, args.bootstrap, args.scratch_form or "spline")


if __name__ == "__main__":
    main()
