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
# # From-scratch scaling on the target

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

from transfer_laws.analysis import open_study
from transfer_laws import figures, tables

sd, ready = open_study(source, target, profile, results, data_dir, need="curves")

# %% [markdown]
# Each model size gets its own curve $L_N(D) = E_N + B_N D^{-b_N}$, monotone in $D$ so that
# it can be inverted for effective data. $D(N)$ is the data a size needs to come within 1%
# of its infinite-data loss $E_N$.

# %%
conv = sd.convergence("scratch")
capped = conv[conv["stopped"] == "budget"]
if ready:
    figures.show(figures.scratch_curves(sd.runs, sd.curves, set(zip(capped["N"], capped["D"]))),
                 f"scratch-{target}-{profile}",
                 sd.caption("scratch", "Points: runs (triangles: reached the token budget, still improving: "
                            "censored); "
                            "dashed: per-N fits"))
    table = pd.DataFrame([{"N": n, "method": c.method, "E_N": c.E, "B_N": c.B, "b_N": c.b, "points": c.points,
                           "RMSE(log L)": c.rmse, "D(N) (1% of E_N)": c.data_to_saturate(),
                           "largest D run": c.d_max,
                           "largest D / D(N)": c.d_max / c.data_to_saturate()} for n, c in sd.curves.items()])
    tables.show(table, units={"N": "parameters", "E_N": "nats/token",
                              "D(N) (1% of E_N)": "tokens", "largest D run": "tokens"}, digits={"E_N": 4})

# %% [markdown]
# ## Did the runs converge?
# Hernandez et al. compare with from-scratch models trained to convergence on D tokens.
# Every run here ends when its loss on a small stopping set (part of the validation
# split) has stopped improving, then cools down from its best point; its loss is then
# measured once on the test split. A run that reaches its profile's token budget first
# is marked `budget`: it was still improving, so its loss is only an upper bound
# (censored) and no fit takes it as a measurement. Which runs they are:

# %%
if len(conv):
    display(Markdown(f"**{len(capped)} of {len(conv)}** from-scratch runs reached the token budget while still "
                     f"improving; the others stopped early."))
    tables.show(conv, units={"N": "parameters", "D": "tokens"})

# %% [markdown]
# ## Which from-scratch law predicts runs it has not seen
#
# Candidates: a power law per size $E_N + B_N D^{-b_N}$ (what the loss-space Hernandez fit
# uses), a monotone interpolation per size, and the joint forms of Kaplan et al. (2020),
# $[(N_c/N)^{\alpha_N/\alpha_D} + D_c/D]^{\alpha_D}$, and Chinchilla, $E + A N^{-\alpha} + B D^{-\beta}$
# (both fitted as `transfer-laws fit scratch` does: Huber loss on log-loss, log-sum-exp form,
# a grid of starts, L-BFGS). Each (N, D) is held out in turn (all its seeds), and then the
# largest size; converged runs only. Lower is better; a per-size form cannot predict a size
# it has no runs of.

# %%
from transfer_laws.analysis import cached_fit
from transfer_laws.errors import InputError
from transfer_laws.laws.scratch_law import compare_scratch_forms

if ready:
    try:
        forms = cached_fit(results, "scratch_forms", sd.runs, compare_scratch_forms)
        tables.show(forms)
        best = forms.sort_values("held-out D: RMSE(log L)").iloc[0]["form"]
        display(Markdown(f"Smallest held-out-D error: **{best}**."))
    except InputError as e:
        display(Markdown(f"The joint forms cannot be compared yet: {e}"))

# %% [markdown]
# ## The runs behind this study
# Every record, with its provenance: the git commit of the code that trained it, the
# hardware, the seed, wall time and throughput. The JSON records hold the full config
# and the whole validation curve.

# %%
if len(sd.records):
    runs = sd.provenance().sort_values(["kind", "N", "D"]).rename(columns={"wall_s": "wall time",
                                                                          "tokens_per_s": "throughput"})
    tables.show(runs, units={"N": "parameters", "D": "tokens", "loss": "nats/token", "wall time": "s",
                             "throughput": "tokens/s"}, digits={"loss": 4})
