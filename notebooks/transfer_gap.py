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
# # The transfer gap across pairs
#
# Barnett (2024) adds the pre-training data $p$ as an axis. The form we fit is our
# reading of the paper, **not confirmed against its text**:
# $L(p, f) = (A\,p^{-\alpha} + G)\,f^{-\beta} + E$. $G$, the transfer gap, is the part of
# the fine-tuning-limited loss that no amount of pre-training removes. Fitted with Huber
# loss on log-loss from a grid of starts (L-BFGS-B). The 95% intervals are
# profile-likelihood intervals: a value is inside when the best fit with that parameter
# held there is not significantly worse than the best fit (methods page). They show what
# a bootstrap from the best fit hides: whether the data pin a constant down at all.
# Alternative forms are compared on AIC and leave-one-out error.
#
# G's interval is calibrated on our design rather than read off χ²₁: synthetic
# fine-tunes are drawn from each fit, on the (p, f, seed) points as run, with the parts
# of its own residuals (seed offsets, the law's lack of fit as an offset per (p, f) that
# every seed shares, and scatter), and fitted as the real ones are (`benchmarks/gap_calibration.py`, stored in `results/calibration/`).
# Where the statistic at the true G exceeds χ²₁'s 3.84 in more than 5% of draws, its
# 95th percentile is the critical value of that fit's interval; it is never below 3.84
# (methods page, with the limits of this calibration).
#
# At N = 25k the `cpu` profile trains 12 seeds, not 3: the 9 grid seeds add pre-training
# and fine-tunes there for the transfer gap alone (methods page). The table's "seeds"
# column says how many seeds each fit read.

# %% tags=["parameters"]
results = "results"
data_dir = "data"
studies = "[]"
price_pretrain = 1.0
price_finetune = 10.0

# %%
import json

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from transfer_laws import figures, tables
from transfer_laws.analysis import load_study
from transfer_laws.book import check_parameters
from transfer_laws.claims import reference_f
from transfer_laws.gap import cell_residuals, gap_table, misfit_text, study_gap_fits
from transfer_laws.laws import allocation_curve, compare_laws

studies = json.loads(studies)
fits, rows, alloc, gap_fits = {}, [], [], []
for s in studies:
    check_parameters(s["source"], s["target"], s["profile"], data_dir)
    sd = load_study(s["source"], s["target"], s["profile"], results, data_dir)  # the cached study fit
    # the law has no N term: it is fitted at every size that has a grid of p (cached: the claims page reads the same)
    these = study_gap_fits(sd, results)
    if not these:
        display(Markdown(f"**{sd.name}: not reproduced yet.** No model size has fine-tunes at two or more values "
                         f"of p ({len(sd.records)} of {sd.planned} planned runs)."))
    gap_fits += these
    for g in these:
        label = f"{g.pair}, N = {g.n_params:,.0f}"
        if g.fit is None:
            display(Markdown(f"**{label}: not reproduced yet.** {g.note}"))
            continue
        fit, pts = g.fit, g.points
        fits[label] = (sd, fit, pts)
        ci = fit.conf_int(method="profile")
        searched = {k: (t["value"].min(), t["value"].max()) for k, t in fit.info["profiles"].items()}
        rows.append({"pair": label, "profile": s["profile"], "N": fit.info["n_params_model"],
                     "runs": fit.info["n_points"], "seeds": pts["seed"].nunique(),
                     **{k: fit.params[k] for k in fit.params.index},
                     **{f"{k}_low": ci.loc[k, 0] for k in fit.params.index},
                     **{f"{k}_high": ci.loc[k, 1] for k in fit.params.index},
                     **{f"{k}_searched_low": searched[k][0] for k in fit.params.index},
                     **{f"{k}_searched_high": searched[k][1] for k in fit.params.index},
                     "G bounded": g.bounded, "complete": g.complete, "critical": g.critical,
                     "lack of fit": g.noise, "misfit tests": g.misfit,
                     "coverage_chi2": (g.calibration or {}).get("coverage_chi2", np.nan),
                     "calibration note": g.note,
                     "RMSE(log L)": fit.info["rmse_log_loss"],
                     "curvature in ln p": fit.info["curvature_test"]["verdict"],
                     "curvature p-value": fit.info["curvature_test"]["p_value"]})
        if not g.bounded:  # where G is not bounded, neither is the shape of the allocation
            continue
        p_range = (pts["pretrain_tokens"].min(), pts["pretrain_tokens"].max())
        budgets = np.geomspace(price_pretrain * p_range[0] + price_finetune * pts["tokens"].min(),
                               10 * (price_pretrain * p_range[1] + price_finetune * pts["tokens"].max()), 25)
        alloc.append(allocation_curve(fit, budgets, price_pretrain, price_finetune).assign(pair=label))
gaps = gap_table(gap_fits)
ready = bool(rows)
if not ready:
    display(Markdown("**No pair has enough runs yet** (the law needs fine-tuned runs over at least two "
                     "pre-training sizes and two fine-tuning sizes at one model size)."))

# %% [markdown]
# ## Fitted surfaces against measured points

# %%
for label, (sd, fit, pts) in fits.items():
    figures.show(figures.gap_surface(pts, fit, label),
                 f"gap-{sd.source}-{sd.target}-{sd.profile}-{fit.info['n_params_model']:.0f}",
                 sd.caption("transfer_gap", "Points: runs; lines: fitted law"))

# %% [markdown]
# ## Where the law misses
# Each cell is one (p, f) of a fit: the mean log-residual of its runs, every seed's, after
# each seed's own offset, in percent of the loss (red: the runs are worse than the law).
# A cell within two standard errors of the law (from the seeds' spread within cells) is
# drawn pale. A column is one effect, not one per p: every seed fine-tunes all its p on
# the same D_F subset, so the lack-of-fit tests in the table below read the columns
# against those (seed, f) offsets, the rows against the (seed, p) checkpoints, and the
# rest against the runs' scatter (`gap.misfit_tests`). A pattern that repeats across
# pairs is a shape the form does not have, and more seeds would only sharpen it.

# %%
cells = [cell_residuals(g.fit, g.points).assign(fit=f"{g.pair}, N = {g.n_params:,.0f} ({g.points['seed'].nunique()} seeds)")
         for g in gap_fits if g.fit is not None and g.points["seed"].nunique() > 1]
if cells:
    figures.show(figures.gap_misfit(pd.concat(cells)), "gap-misfit",
                 "Made by notebooks/transfer_gap.py (transfer_laws.gap.cell_residuals) from every study in "
                 "book/studies.toml; numbers: percent of the loss; pale: within 2 standard errors (pure error).")

# %% [markdown]
# ## Constants with 95% intervals, and pairs ranked by $G$
# An interval end written "< x" or "> x" is one the data do not bound: the profile was
# searched over the range written (for G a grid scaled to the measured losses), and the
# fit at x is still as good. Beside each fit: the test for curvature of the loss in ln p
# at each f, pooled: G is identifiable only where the effect of pre-training flattens.

# %%
def interval(v, lo, hi, lo_edge, hi_edge):
    lo_s = f"{lo:.3g}" if lo > 0 else f"< {lo_edge:.2g}"
    hi_s = f"{hi:.3g}" if np.isfinite(hi) else f"> {hi_edge:.2g}"
    return f"{v:.3g} [{lo_s}, {hi_s}]"


if ready:
    table = pd.DataFrame(rows).sort_values("G")
    pretty = table[["pair", "N", "runs", "seeds"]].copy()
    for k in ("A", "alpha", "G", "beta", "E"):
        pretty[k] = [interval(*r) for r in zip(*(table[f"{k}{x}"] for x in ("", "_low", "_high", "_searched_low",
                                                                        "_searched_high")))]
    pretty["G bounded"] = np.where(table["G bounded"], "both ends", "no") + np.where(
        table["complete"], "", " (provisional: runs to come)")
    pretty["lack of fit: p-value of f / p / p × f (their rule); σ misfit / σ run"] = [
        misfit_text(m) + (f"; {z.cell:.3f} / {z.within:.3f}" if m["p"].notna().all() else "")
        for z, m in zip(table["lack of fit"], table["misfit tests"])]
    pretty["G's critical value (χ²₁ interval's coverage on our design)"] = [
        f"{c:.3g} ({cov:.2f})" if np.isfinite(cov) else f"{c:.3g} (not calibrated)"
        for c, cov in zip(table["critical"], table["coverage_chi2"])]
    pretty["RMSE(log L)"] = table["RMSE(log L)"].round(4)
    pretty["curvature in ln p (test before G)"] = [
        v if p is None else f"{v} (one-sided p = {p:.2g})"
        for v, p in zip(table["curvature in ln p"], table["curvature p-value"])]
    tables.show(pretty)
    for label, note in zip(table["pair"], table["calibration note"]):
        if note:
            display(Markdown(f"*{label}*: {note}"))
    read = gaps[gaps["complete"]]  # a size whose planned runs are not all recorded is provisional
    n_pairs = read["pair"].nunique()
    bounded_pairs = sorted(read.loc[read["bounded"], "pair"].unique())
    per_size = "; ".join(f"N = {n:,.0f}: {int(g['bounded'].sum())} of {len(g)}, {int(g['seeds'].max())} seeds"
                         for n, g in read.groupby("N"))
    display(Markdown(f"**G is bounded on both sides for {len(bounded_pairs)} of {n_pairs} pair(s)** "
                     f"(at one model size or more; (pair, size) fits by size: {per_size or 'none complete'})"
                     + (f": {', '.join(bounded_pairs)}." if bounded_pairs else ".")
                     + (f" {len(gaps) - len(read)} fit(s) are provisional (runs still to come) and not counted."
                        if len(read) < len(gaps) else "")))
    rejected = read[read["form_rejected"].astype(bool)]
    if len(rejected):
        display(Markdown(
            f"**The law does not fit the runs to within their seed noise at {len(rejected)} of {len(read)} fits** "
            "(the log-residuals split by ANOVA: the misfit's f columns tested against the seeds' (seed, f) "
            "offsets, its p rows against the (seed, p) offsets, its p × f part against the runs' scatter; "
            "rejected where the smallest of the three p-values, times 3, is under 0.05: "
            "`transfer_laws.gap.misfit_tests`). The misfit is shared by every seed, so more seeds do not shrink it; G's "
            "calibrated interval draws it as an offset per (p, f) cell (methods page), which widens the interval "
            "where the misfit is large against the effect of p. What would decide G there is a form that fits, "
            "not more seeds."))
    open_g = table.loc[~table["G bounded"], "pair"].tolist()
    if open_g:
        display(Markdown(
            f"**The data do not bound G for {', '.join(open_g)}.** Any G in the dashed range fits the runs "
            "as well as the estimate: none of the pre-training sizes comes close enough to saturating the "
            "target loss to say how much of the gap pre-training could never close, so G trades off against "
            "A and α (the form with G = 0 fits about as well: alternative forms, below). These fits are ranked by "
            "the bound they have, if any, and left out of the allocation, which needs a finite G. On three seeds "
            "the design itself left G open (synthetic studies drawn from each fit, `benchmarks/gap_power.py`); "
            "the grid seeds at N = 25k were added for that, and showed instead that the form misses the runs "
            "(lack of fit, above), so more seeds no longer help: benchmarks/README.md, section \"12 seeds at N "
            "= 25k\", has the figures, and the methods page what the misfit is made of."))
    # G is in loss·tokens^β: between fits with different β only G·f^−β at one shared f compares
    f_ref = reference_f(gaps[gaps["G"].notna()])
    scale = np.exp(-table["beta"] * np.log(f_ref)) if np.isfinite(f_ref) else pd.Series(1.0, index=table.index)
    g_ref, lo_ref, hi_ref = table["G"] * scale, table["G_low"] * scale, table["G_high"] * scale
    has_upper = np.isfinite(hi_ref)
    n_open = int((~table["G bounded"]).sum())
    display(Markdown(
        f"**Pairs ranked by G** at f_ref = {f_ref:,.0f} fine-tuning tokens (the middle of the D_F grid every fit shares), "
        "as G·f_ref^−β in nats, conditional on each fit's β̂ (smallest gap first: pre-training substitutes for target "
        f"data most cheaply there). {n_open} of {len(table)} fit(s) leave G unbounded at one end or both: those "
        "with an upper bound are ranked by it (\"below x\"); those with none cannot be ranked."
        if np.isfinite(f_ref) else "**Pairs ranked by G** (the fits share no D_F, so G is not rescaled)."))
    key = np.where(table["G bounded"], g_ref, np.where(has_upper, hi_ref, np.inf))
    order = np.argsort(key, kind="stable")
    shown = []
    for rank, i in enumerate(order, 1):
        bounded, up = bool(table["G bounded"].iloc[i]), bool(has_upper.iloc[i])
        shown.append({"rank": rank if (bounded or up) else "–", "pair": table["pair"].iloc[i],
                      "G·f_ref^−β [95% interval]": (f"{g_ref.iloc[i]:.3g} [{lo_ref.iloc[i]:.3g}, {hi_ref.iloc[i]:.3g}]"
                                                     if bounded else f"below {hi_ref.iloc[i]:.3g}" if up else
                                                     "not bounded"),
                      "G bounded": "both ends" if bounded else "upper only" if up else "no"})
    tables.show(pd.DataFrame(shown))
    figures.show(figures.gap_ranking(table), "gap-ranking",
                 "Made by notebooks/transfer_gap.py from every study in book/studies.toml; "
                 "dashed: an interval the data do not bound, drawn to the edge of the searched range.")
    for label, (sd, fit, pts) in fits.items():
        display(Markdown(f"**{label}**: alternative forms"))
        tables.show(compare_laws(pts).reset_index())

# %% [markdown]
# ## Optimal allocation of a data budget
# With a pre-training token priced at `price_pretrain` and a fine-tuning token at
# `price_finetune` (parameters of this notebook), the loss-minimising $p$ and $f$ per budget.
# Drawn only for fits whose $G$ is bounded on both sides: where it is not, the shape of the
# curve is not either. Beyond the largest measured $p$ and $f$ the curves extrapolate the
# fitted law.

# %%
if alloc:
    curves = pd.concat(alloc)
    display(Markdown(f"Prices: pre-training {price_pretrain:g}, fine-tuning {price_finetune:g} per token."))
    figures.show(figures.allocation_chart(curves), "allocation", "Made by notebooks/transfer_gap.py; solid/dashed: p / f; "
                 "only fits with G bounded on both sides.")
elif ready:
    display(Markdown("**No allocation curve is drawn**: no fit bounds G on both sides (above), and the allocation "
                     "it implies would be as unbounded."))
