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
# # Ossification
#
# Hernandez et al. (Figs. 5–6): in the high-data regime, small pre-trained models can end
# *worse* than models trained from scratch on the same target data. Here: the from-scratch
# loss minus the fine-tuned loss at the same data; below zero, pre-training hurt.

# %% tags=["parameters"]
source = "english"
target = "python"
profile = "cpu"
results = "results"
data_dir = "data"

# %%
from IPython.display import Markdown, display

from transfer_laws import figures, tables
from transfer_laws.analysis import open_study

sd, ready = open_study(source, target, profile, results, data_dir, need="ed")

# %%
if ready:
    figures.show(figures.ossification(sd.ed, sd.curves), f"ossification-{source}-{target}-{profile}",
                 sd.caption("ossification"))
    d = sd.ed.assign(scratch_loss=[float(sd.curves[n].loss(x)) for n, x in zip(sd.ed["n_params"], sd.ed["D_F"])])
    d["gain"] = d["scratch_loss"] - d["loss"]
    worse = d[d["gain"] < 0]
    if len(worse):
        display(Markdown(f"**Ossification observed** in {len(worse)} of {len(d)} fine-tuned runs: the pre-trained "
                         f"model ends worse than from scratch at sizes N ∈ {{{', '.join(f'{n:,.0f}' for n in sorted(worse['n_params'].unique()))}}} "
                         f"and D_F ≥ {worse['D_F'].min():,.0f} tokens (largest deficit {-worse['gain'].min():.4f} nats)."))
    else:
        display(Markdown(f"**Not observed in our runs:** in all {len(d)} fine-tuned runs the pre-trained model ends at "
                         f"or below the from-scratch curve (smallest benefit {d['gain'].min():.4f} nats, at "
                         f"N = {d.loc[d['gain'].idxmin(), 'n_params']:,.0f}, D_F = {d.loc[d['gain'].idxmin(), 'D_F']:,.0f})."))
    tables.show(d[["n_params", "D_F", "loss", "scratch_loss", "gain"]].sort_values(["n_params", "D_F"]).rename(
                    columns={"n_params": "N", "loss": "fine-tuned loss", "scratch_loss": "from-scratch loss",
                             "gain": "from scratch − fine-tuned"}),
                units={"N": "parameters", "D_F": "tokens", "fine-tuned loss": "nats/token",
                       "from-scratch loss": "nats/token", "from scratch − fine-tuned": "nats/token"},
                digits={"fine-tuned loss": 4, "from-scratch loss": 4})
