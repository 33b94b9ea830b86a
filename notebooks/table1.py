# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Table 1 across pairs
#
# Hernandez et al. (2021) fitted $D_T = k\,D_F^{\alpha} N^{\beta}$ for two sources with the
# same target and read two things off their Table 1: **β is the same for both sources**
# (a property of the architecture and the target), and **a smaller α means a closer
# source** (English plus non-Python code transfers more evenly across $D_F$ than English
# alone). Here every study in the book is fitted the same way (each study's own chapter
# has the details) and set beside the paper's rows, with 95% profile-likelihood
# intervals of the loss-space fit. Sources are compared through the interval of their
# difference, from one joint fit that shares the from-scratch runs.

# %% tags=["parameters"]
results = "results"
data_dir = "data"
studies = "[]"

# %%
import json

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from transfer_laws import figures, tables
from transfer_laws.analysis import load_study
from transfer_laws.book import check_parameters
from transfer_laws.claims import PAPER_TABLE1

PAPER = [{**{k: r[k] for k in ("pair", "k", "alpha", "beta")}, "ours": False} for r in PAPER_TABLE1]
rows, missing, runs_of, fits_of = [], [], {}, {}
for s in json.loads(studies):
    check_parameters(s["source"], s["target"], s["profile"], data_dir)
    sd = load_study(s["source"], s["target"], s["profile"], results, data_dir, n_boot=200)
    pair = f"{s['source']} → {s['target']} ({s['profile']})"
    if sd.hernandez is None:
        missing.append(f"**{pair}**: " + " ".join(sd.missing.values()))
        continue
    h, ci = sd.hernandez, sd.hernandez.conf_int()
    runs_of[pair] = sd.main_runs
    fits_of[(s["source"], s["target"])] = (pair, sd)
    rows.append({"pair": pair, "source": s["source"], "target": s["target"], "ours": True,
                 "points": h.info["n_finetune"],
                 **{k: h.params[k] for k in ("k", "alpha", "beta")},
                 **{f"{k}_low": ci.loc[k, 0] for k in ("k", "alpha", "beta")},
                 **{f"{k}_high": ci.loc[k, 1] for k in ("k", "alpha", "beta")}})
for m in missing:
    display(Markdown(f"Not fitted yet: {m}"))
ours = pd.DataFrame(rows)

# %%
table = pd.concat([pd.DataFrame(PAPER), ours], ignore_index=True)


def cell(r: pd.Series, k: str, fmt: str) -> str:
    return f"{r[k]:{fmt}} [{r[k + '_low']:{fmt}}, {r[k + '_high']:{fmt}}]" if r["ours"] else f"{r[k]:{fmt}}"


tables.show(pd.DataFrame([{"source → target": r["pair"], "k": cell(r, "k", ".2g"), "alpha": cell(r, "alpha", ".3g"),
                       "beta": cell(r, "beta", ".3g"), "points fitted": f"{r['points']:.0f}" if r["ours"] else ""}
                      for _, r in table.iterrows()]))
if len(ours):
    open_rows = [r["pair"] for _, r in ours.iterrows()
                 if not all(np.isfinite(r[f"{k}_{e}"]) for k in ("alpha", "beta") for e in ("low", "high"))]
    if open_rows:
        display(Markdown(
            f"**Not identified: {', '.join(open_rows)}.** The data leave α or β unbounded on at least one side, so "
            "these rows are not measurements of the constants they print: read them as \"can't tell\". Where the fit "
            "is not identified its profile intervals are not calibrated either (benchmarks/README.md measures this on "
            "synthetic studies drawn from such a fit, with what would identify it: seed noise and the design)."))

# %% [markdown]
# ## α and β per pair
# Points: estimates; bars: 95% profile-likelihood intervals; hollow points: the paper's values.

# %%
if len(ours):
    figures.show(figures.exponents_by_pair(table), "table1-exponents",
                 "Made by notebooks/table1.py from every study in book/studies.toml and Hernandez et al. (2021), Table 1.")

# %% [markdown]
# ## The paper's two readings, on our runs

# %%
from transfer_laws.errors import InputError
from transfer_laws.analysis import cached_fit
from transfer_laws.laws import compare_sources


def verdict(lo: float, hi: float, what: str, a: str, b: str) -> str:
    if lo > 0:
        return f"{what}({a}) − {what}({b}) is positive"
    if hi < 0:
        return f"{what}({a}) − {what}({b}) is negative"
    return f"can't tell whether {what} differs"


pairs = [(a, b) for i, a in ours.iterrows() for j, b in ours.iterrows()
         if i < j and a["target"] == b["target"] and a["source"] != b["source"]] if len(ours) else []
lines = []
for a, b in pairs:
    rb = runs_of[b["pair"]]
    both = pd.concat([runs_of[a["pair"]], rb[rb["kind"] == "finetune"]], ignore_index=True)
    try:
        d = cached_fit(results, "compare_sources", both, compare_sources, source_a=a["source"],
                       source_b=b["source"], n_boot=0)  # the same fit the claims page reads
    except InputError as e:
        lines.append(f"- **{a['pair']}** vs **{b['pair']}**: no joint fit yet ({e}).")
        continue
    ci = d.conf_int()
    parts = []
    for k, sym in (("beta_diff", "β"), ("alpha_diff", "α")):
        lo, hi = ci.loc[k, 0], ci.loc[k, 1]
        parts.append(f"{sym}_A − {sym}_B = {d.params[k]:.3f} [{lo:.3f}, {hi:.3f}]: "
                     + verdict(lo, hi, sym, a["source"], b["source"]))
    closer = ("" if ci.loc["alpha_diff", 0] <= 0 <= ci.loc["alpha_diff", 1] else
              f" By the paper's reading (smaller α: closer) {a['source'] if d.params['alpha_diff'] < 0 else b['source']}"
              " is the closer source.")
    lines.append(f"- **{a['pair']}** (A) vs **{b['pair']}** (B): " + "; ".join(parts) + "." + closer)
display(Markdown("\n".join(lines) if lines else
                 "Comparing sources needs fitted studies of at least two sources with the same target."))

# %% [markdown]
# ## How precise: the 0.3-width target
# Issue 13 asks for 95% intervals of α and of β each at most 0.3 wide for english →
# python and english+code → python. Where a width is over the target, the projection
# says how many seeds per point would meet it. It starts from the measured profile width
# and scales it by √(s_now/s) (a noise-limited width) and by √(F(1, ν_s)/F(1, ν_now)) (the
# profile threshold falls as the degrees of freedom ν = (seeds − 1) × sizes behind the
# seed noise grow), so at the seeds there are now it is the measured width (shown beside
# it). Where the fit's dispersion φ is above 2, the runs scatter about the law more than
# the seeds do: the width is then limited by lack of fit and more seeds will not meet the
# target; where the interval is unbounded no seed count is given (`transfer_laws.precision`).
# A wider design narrows the interval at the same noise in proportion to the spread of
# ln N (β) and of ln D_F (α): the gpu profile's factor is given beside it.

# %%
import numpy as np

from transfer_laws.precision import WIDTH_TARGET, lever_arm, seed_noise, target_lines, width_outlook
from transfer_laws.study import load_profile

TARGET_PAIRS = [("english", "python"), ("english+code", "python")]
arm = lever_arm(load_profile("cpu"), load_profile("gpu"))
outlook = []
for src, tgt in TARGET_PAIRS:
    if (src, tgt) not in fits_of:
        outlook.append(f"- **{src} → {tgt}**: not fitted yet, so the target cannot be checked "
                       f"({'no study in the book' if not any(s['source'] == src and s['target'] == tgt for s in json.loads(studies)) else 'too few runs'}).")
        continue
    pair, sd = fits_of[(src, tgt)]
    w = width_outlook(sd.hernandez, sd.main_runs)
    display(Markdown(f"**{pair}**"))
    tables.show(w, digits=3)
    outlook += target_lines(pair, w, arm)
display(Markdown("\n".join(outlook)))

# %% [markdown]
# ### The seed noise behind it
# σ: the run-to-run spread of the test loss between seeds at one (N, D), in nats, from
# the replicate runs (2 or more seeds finished); σ_c: the offset shared by every run of
# one (size, seed), which for fine-tunes is what one pre-training run does to all of
# them, and which limits β.

# %%
for src, tgt in TARGET_PAIRS:
    if (src, tgt) in fits_of:
        pair, sd = fits_of[(src, tgt)]
        noise = seed_noise(sd.main_runs)
        if noise.empty:
            display(Markdown(f"**{pair}**: no point has 2 finished seeds yet: no seed noise measured."))
            continue
        display(Markdown(f"**{pair}**: σ per kind, N and D (nats)"))
        sig = noise.pivot_table(index=["kind", "N"], columns="D", values="sigma")
        sig.columns = [f"D = {d:,.0f}" for d in sig.columns]
        tables.show(sig.reset_index(), units={"N": "parameters"}, digits=2)
        display(Markdown("σ_c: " + ", ".join(f"{k} {v:.4f} nats" for k, v in
                                             noise.groupby("kind")["cluster_sigma"].first().items())))

# %% [markdown]
# ## Does Table 1 depend on the fine-tuning learning rate?
# `cpu` fine-tunes at the from-scratch peak LR, 3e-3, and many of its small-D_F fine-tunes
# are best inside warm-up (methods, "The fine-tuning learning rate"). An experiment
# repeats a pair's Hernandez design (every size, the same seeds, pre-training runs and
# data subsets, the main p) with the fine-tunes at 3e-3 and at 3e-4, the best of 3e-3,
# 1e-3 and 3e-4 in a smaller experiment on code → python at one size (profiles `benchmarks/profiles/table1-ft-3e-3.toml` and
# `table1-ft-3e-4.toml`, records in `results/experiments/table1-ft-lr/`); the two differ in
# the fine-tuning LR alone. Read as decided before any run (`transfer_laws.lr_sensitivity`):
# Table 1's constants at each LR, and the change of α and of β from one joint fit that
# shares the from-scratch curve, read as "moves" where its 95% interval excludes 0 and as
# can't tell otherwise. That interval treats the two LRs' fine-tunes as independent; they
# share each seed's pre-training run, so where their offsets correlate positively (the
# correlation is printed) it is probably too wide. The experiment's 3e-3 fine-tunes are its
# own: at N = 6.6k and 25k they start from other checkpoints than `cpu`'s (which the table
# above and the claims page read), so its 3e-3 constants differ from those above.

# %%
from pathlib import Path

from transfer_laws.analysis import read_study
from transfer_laws.data import DataError
from transfer_laws.errors import InputError
from transfer_laws.lr_sensitivity import (BASE_PROFILE, OTHER_PROFILE, between_sources, compare_lrs, experiment_results,
                                          lr_label, main_finetunes)

lr_rows, lr_lines, lr_studies, lr_comparisons, not_run = [], [], {}, {}, []
for src, tgt in fits_of:
    if tgt != "python":  # the experiment's pairs: python, Table 1's target
        continue
    pair = f"{src} → {tgt}"
    if not (Path(BASE_PROFILE).exists() and Path(OTHER_PROFILE).exists()):
        lr_lines.append(f"- **{pair}**: the experiment's profiles are not here.")
        continue
    try:
        base, other = (read_study(src, tgt, p, experiment_results(results), data_dir)
                       for p in (BASE_PROFILE, OTHER_PROFILE))
    except (DataError, InputError) as e:
        lr_lines.append(f"- **{pair}**: the experiment's design cannot be planned here ({e}).")
        continue
    if (src, tgt) not in TARGET_PAIRS and not any(r["config"]["kind"] == "finetune" for r in other.records):
        not_run.append(pair)  # the experiment was run for Table 1's pairs and, where it says so, others
        continue
    if not (base.main_complete and other.main_complete):
        lr_lines.append(f"- **{pair}**: not run, or not complete ({len(base.records)} of {base.planned} and "
                        f"{len(other.records)} of {other.planned} planned runs); `transfer-laws sweep --source {src} "
                        f"--target {tgt} --profile PROFILE --results {experiment_results('results')}` with each of the "
                        "two profiles makes the rest.")
        continue
    try:
        c = compare_lrs(base, other)
    except InputError as e:
        lr_lines.append(f"- **{pair}**: {e}")
        continue
    lr_studies[(src, tgt)] = (base, other)
    lr_comparisons[(src, tgt)] = c
    for _, r in c.constants().iterrows():
        lr_rows.append({"pair": f"{pair}, fine-tuning LR {lr_label(r['fine-tuning LR'])}", "ours": True,
                        **{k: r[k] for k in r.index if k != "fine-tuning LR"}})
    parts = [f"{r['exponent']}: {r['change']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}], **{r['reading']}**"
             for _, r in c.readings().iterrows()]
    widths = "; ".join(f"at {lr_label(r['fine-tuning LR'])} α's interval is {r['alpha_high'] - r['alpha_low']:.3f} wide and "
                       f"β's {r['beta_high'] - r['beta_low']:.3f}" for _, r in c.constants().iterrows())
    disp = ", ".join(f"{d:.2g} at {lr_label(lr)}" for lr, d in zip(c.lrs, c.dispersions()))
    lr_lines.append(f"- **{pair}**, LR {lr_label(c.lrs[1])} minus {lr_label(c.lrs[0])}: " + "; ".join(parts)
                    + f" (the seeds' offsets correlate {c.correlation:+.2f} between the LRs); {widths} "
                    f"(the target: {WIDTH_TARGET}); the fits' dispersion φ: {disp}.")
    display(Markdown(f"**{pair}**: the fine-tuned loss at {lr_label(c.lrs[1])} minus at {lr_label(c.lrs[0])}, paired by (N, D_F, "
                     f"seed), with its 95% t interval over the {len(base.seeds)} seeds' mean changes ({len(base.seeds) - 1} degrees of "
                     "freedom), and the "
                     "share of fine-tunes best inside warm-up at each LR"))
    warm = {f"best in warm-up at {lr_label(lr)}": c.losses["D_F"].map(w) for lr, w in zip(c.lrs, c.warmup)}
    tables.show(c.losses.drop(columns="se").assign(**warm),
                units={"D_F": "tokens", "loss at base LR": "nats", "change": "nats", "low": "nats", "high": "nats"},
                digits=3, formats={k: "{:+.3f}" for k in ("change", "low", "high")} | {k: "{:.0%}" for k in warm})
if lr_rows:
    paper_rows = [{**{k: r[k] for k in ("pair", "k", "alpha", "beta")}, "ours": False}
                  for r in PAPER_TABLE1 if (r["source"], "python") in lr_studies]
    lr_table = pd.concat([pd.DataFrame(lr_rows), pd.DataFrame(paper_rows)], ignore_index=True)
    figures.show(figures.exponents_by_pair(lr_table, "α and β at two fine-tuning LRs"),
                 "table1-finetune-lr", "Made by notebooks/table1.py from results/experiments/table1-ft-lr "
                 "(transfer_laws.lr_sensitivity).")
if not_run:
    lr_lines.append(f"- Not in the experiment (no fine-tune at its lower LR): {', '.join(not_run)}.")
display(Markdown("\n".join(lr_lines) if lr_lines else "No python pair is in the book: the experiment has none to show."))

# %% [markdown]
# ### The 0.3-width target at each fine-tuning LR
# The same projection as above (`transfer_laws.precision`), on each LR's own fit of the
# experiment, for Table 1's two pairs. Whether these intervals cover at their nominal 95%
# on a design like this one is checked on synthetic runs drawn from each fit with its
# measured noise (`benchmarks/fitting.py --like … --profile benchmarks/profiles/table1-ft-….toml`;
# the figures are in benchmarks/README.md). They cover there, but those synthetic runs do
# not reproduce the real ones: the real α intervals are wider than nearly every synthetic
# one, by more than the fits' dispersion explains, so these intervals are probably too
# narrow and a "target met" here is to be read with that caveat.

# %%
target_at_lr = []
for src, tgt in TARGET_PAIRS:
    if (src, tgt) not in lr_comparisons:
        target_at_lr.append(f"- **{src} → {tgt}**: the experiment is not complete for this pair, so its widths are "
                            "not read.")
        continue
    c = lr_comparisons[(src, tgt)]
    for lr, fit, sd in zip(c.lrs, c.fits, lr_studies[(src, tgt)]):
        target_at_lr += target_lines(f"{src} → {tgt}, fine-tuning LR {lr_label(lr)} ({len(sd.seeds)} seeds)",
                                     width_outlook(fit, sd.main_runs))
display(Markdown("\n".join(target_at_lr)))

# %% [markdown]
# ### The paper's two readings at each fine-tuning LR
# Where the experiment is complete for both pairs, the sources are compared as above
# (one joint fit sharing the from-scratch runs, the interval of the difference), once at
# each LR. This was added after the experiment's reading was registered; at 3e-3 it reads
# the experiment's own checkpoints, so it can differ from the comparison above.

# %%
if all(pair in lr_studies for pair in TARGET_PAIRS):
    (a_src, (a_base, a_other)), (b_src, (b_base, b_other)) = ((src, lr_studies[(src, tgt)]) for src, tgt in TARGET_PAIRS)
    lines = []
    for a_sd, b_sd in ((a_base, b_base), (a_other, b_other)):
        lr = main_finetunes(a_sd)["lr"].iloc[0]
        try:
            d, parts = between_sources(a_sd, b_sd), []
        except InputError as e:
            lines.append(f"- at fine-tuning LR {lr_label(lr)}: no joint fit ({e}).")
            continue
        ci = d.conf_int()
        for k, sym in (("beta_diff", "β"), ("alpha_diff", "α")):
            lo, hi = ci.loc[k, 0], ci.loc[k, 1]
            parts.append(f"{sym}_A − {sym}_B = {d.params[k]:.3f} [{lo:.3f}, {hi:.3f}]: " + verdict(lo, hi, sym, a_src, b_src))
        lines.append(f"- at fine-tuning LR {lr_label(lr)}, **{a_src}** (A) vs **{b_src}** (B): " + "; ".join(parts) + ".")
    display(Markdown("\n".join(lines)))
else:
    display(Markdown("The experiment is not complete for both pairs yet, so the sources are not compared at 3e-4."))
