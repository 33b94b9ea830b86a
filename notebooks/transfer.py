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
# # Effective data transferred
#
# Hernandez et al. (2021): the effective data $D_E$ of a fine-tuned model is the target
# data a from-scratch model of the same size would need to reach its loss;
# $D_T = D_E - D_F$ is the data transferred, and $D_T = k\,D_F^{\alpha} N^{\beta}$.

# %% tags=["parameters"]
source = "english"
target = "python"
profile = "cpu"
results = "results"
data_dir = "data"

# %%
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from transfer_laws import figures, tables
from transfer_laws.analysis import open_study, out_of_sample
from transfer_laws.errors import InputError
from transfer_laws.laws import logit_fraction_fit
from transfer_laws.laws.hernandez import drop_reasons

sd, ready = open_study(source, target, profile, results, data_dir, need="ed", n_boot=200)

# %% [markdown]
# ## Fig. 1: reading $D_F$, $D_T$ and $D_E$ off the curves

# %%
if ready:
    n_show = sorted(sd.ed["n_params"].unique())[len(sd.ed["n_params"].unique()) // 2]
    figures.show(figures.definition_picture(sd.runs, sd.ed, sd.curves[n_show], n_show),
                 f"fig1-{source}-{target}-{profile}", sd.caption("transfer", "Horizontal segments: D_T"))
    cols = ["n_params", "D_F", "loss", "D_E", "D_T", "multiplier", "fraction_transfer", "extrapolated", "scratch_method"]
    tables.show(sd.ed[cols].sort_values(["n_params", "D_F"]).rename(columns={
                    "n_params": "N", "multiplier": "D_E / D_F", "fraction_transfer": "D_T / D_E",
                    "scratch_method": "from-scratch curve"}),
                units={"N": "parameters", "D_F": "tokens", "loss": "nats/token", "D_E": "tokens", "D_T": "tokens"},
                digits={"loss": 4})

# %% [markdown]
# ## Fig. 2: fraction of effective data from transfer
# Points are measured; dashed lines are the global fit (when it can be made).

# %%
if ready:
    params = sd.hernandez.params if sd.hernandez is not None else None
    figures.show(figures.fraction_vs_n(sd.ed.assign(left_out=drop_reasons(sd.ed)), params),
                 f"fig2-{source}-{target}-{profile}",
                 sd.caption("transfer", "Fraction D_T/D_E vs N per D_F; hollow points are left out of the fit, "
                                        "by the rule named in the legend (methods page)"))
    try:
        lg = logit_fraction_fit(sd.ed)
        ci = lg.conf_int(method="ols")
        beta_txt = (f"; the fitted law's β is {sd.hernandez.params['beta']:.3f}" if sd.hernandez is not None else "")
        display(Markdown(f"Appendix C view: a common slope of logit(D_T/D_E) on log N of "
                         f"**{lg.params['slope']:.3f}** (95% CI {ci.loc['slope', 0]:.3f} to {ci.loc['slope', 1]:.3f}), "
                         f"over {lg.info['n_points']} points{beta_txt}."))
    except InputError as e:
        display(Markdown(f"Appendix C view not available: {e}"))

# %% [markdown]
# ## Fig. 3: loss vs model size at fixed $D_F$

# %%
if ready:
    for D_F in sorted(sd.ed["D_F"].unique())[::2]:
        figures.show(figures.loss_vs_n(sd.ed, sd.curves, D_F), f"fig3-{source}-{target}-{profile}-{int(D_F)}",
                     sd.caption("transfer", "From scratch: each N's fitted curve at D = D_F"))

# %% [markdown]
# ## Table 1, ours beside theirs
# Theirs: Hernandez et al. (2021), Table 1 (characters, models up to 10⁹ parameters).
# Ours: tokens, this study's models, fitted in loss space over every run (jointly with the
# from-scratch curves; methods page); 95% profile-likelihood intervals, with the
# seed-cluster bootstrap beside them in the summary.

# %%
if sd.hernandez is not None:
    h = sd.hernandez
    ci = h.conf_int()
    ours = {k: f"{h.params[k]:.3g} [{ci.loc[k, 0]:.3g}, {ci.loc[k, 1]:.3g}]" for k in ("k", "alpha", "beta")}
    table1 = pd.DataFrame([
        {"source → target": "text → python (paper)", "k": "1.9e4", "alpha": "0.18", "beta": "0.38"},
        {"source → target": "50% text + 50% non-python code → python (paper)", "k": "2.1e5", "alpha": "0.096", "beta": "0.38"},
        {"source → target": f"{source} → {target} (ours)", **ours},
    ])
    tables.show(table1)
    print(h.summary())
else:
    display(Markdown("**Table 1 cannot be fitted yet:** " + sd.missing.get("hernandez", "not enough fine-tuned runs.")))

# %% [markdown]
# ## The effective data multiplier
# $D_E / D_F = 1 + k\,D_F^{\alpha-1} N^{\beta}$ over the range of this study.

# %%
if sd.hernandez is not None:
    figures.show(figures.multiplier_surface(sd.hernandez.params, (sd.ed["n_params"].min(), sd.ed["n_params"].max()),
                                            (sd.ed["D_F"].min(), sd.ed["D_F"].max())),
                 f"multiplier-{source}-{target}-{profile}", sd.caption("transfer", "Under the fitted law"))

# %% [markdown]
# ## Out of sample: fit without the largest model's fine-tunes, predict their losses
# The law is refitted with the largest size's fine-tuned runs left out (its from-scratch
# runs stay, they pin its curve); the refit then predicts those fine-tuned losses.

# %%
if sd.hernandez is not None:
    try:
        oos = out_of_sample(sd)
        tables.show(oos.runs.rename(columns={"n_params": "N", "tokens": "D_F", "predicted": "predicted loss"}),
                    units={"N": "parameters", "D_F": "tokens", "loss": "nats/token", "predicted loss": "nats/token"},
                    digits={"loss": 4, "predicted loss": 4})
        ratio = oos.rms / oos.noise_rms
        beside = (f" The seed noise of these runs (run-to-run σ at their N and D_F, {oos.noise_source}) is "
                  f"{oos.noise_rms:.3f} nats (RMS), and a pre-training seed shifts all its fine-tunes together by "
                  f"σ_c = {oos.cluster_sd:.3f}. "
                  + (f"The error is {ratio:.1f}× the run-to-run noise: the law extrapolates to the "
                     "largest size about as well as single runs can tell." if ratio <= 1.5 else
                     f"The error is {ratio:.1f}× the run-to-run noise: the law fitted on the smaller "
                     "sizes misses the largest one by more than seed noise explains.")
                  if oos.replicated else " There are no seed replicates yet to set the error beside.")
        display(Markdown(f"For the held-out N = {oos.largest:,.0f}, the law fitted without its fine-tunes predicts "
                         f"their losses with RMS error **{oos.rms:.3f} nats** (largest {oos.max_abs:.3f}) over "
                         f"{len(oos.held_out)} runs." + beside))
    except InputError as e:
        display(Markdown(f"Out-of-sample check not possible yet: {e}"))
