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
from transfer_laws import figures
from transfer_laws.laws import fit_chinchilla, fit_kaplan

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
    display(table)

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
    display(conv.round({"epochs": 1}))

# %% [markdown]
# ## Joint forms
#
# Kaplan et al. (2020): $L(N, D) = [(N_c/N)^{\alpha_N/\alpha_D} + D_c/D]^{\alpha_D}$;
# Chinchilla: $L = E + A N^{-a} + B D^{-b}$. Fit quality is the RMS of log-loss residuals.

# %%
if ready and sd.runs["n_params"].nunique() >= 2:
    rows = []
    for fit in (fit_kaplan, fit_chinchilla):
        j = fit(sd.runs)
        rows.append({"form": j.form, "RMSE(log L)": j.rmse_log, **{k: f"{v:.4g}" for k, v in j.params.items()}})
    per_n = float(np.sqrt(np.mean([c.rmse**2 for c in sd.curves.values()])))
    rows.append({"form": "per-N curves", "RMSE(log L)": per_n})
    display(pd.DataFrame(rows))
elif ready:
    display(Markdown("The joint forms need at least two model sizes."))

# %% [markdown]
# ## The runs behind this study
# Every record, with its provenance: the git commit of the code that trained it, the
# hardware, the seed, wall time and throughput. The JSON records hold the full config
# and the whole validation curve.

# %%
if len(sd.records):
    display(sd.provenance().sort_values(["kind", "N", "D"]))
