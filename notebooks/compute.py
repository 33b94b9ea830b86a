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
# # Compute
#
# Training FLOPs are counted the Kaplan et al. way (6N per token plus the attention
# term) by the training loop itself, at every evaluation; pre-training compute is
# excluded, as in Hernandez et al. Fig. 4.

# %% tags=["parameters"]
source = "english"
target = "python"
profile = "cpu"
results = "results"
data_dir = "data"

# %%
from IPython.display import Markdown, display

from transfer_laws import figures
from transfer_laws.analysis import open_study

sd, _ = open_study(source, target, profile, results, data_dir)
cf = figures.curves_frame(sd.main_records)  # the main p and the profile's seeds, as the Hernandez chapters
common = sorted(set(sd.runs[sd.runs["kind"] == "scratch"]["tokens"]) & set(sd.runs[sd.runs["kind"] == "finetune"]["tokens"]))
ready = bool(len(cf)) and bool(common)
if len(sd.records) and not ready:
    display(Markdown("**Not reproduced yet:** the compute figures need fine-tuned and from-scratch runs at a common "
                     f"data size. Run `make study SOURCE={source} TARGET={target} PROFILE={profile}`."))

# %% [markdown]
# ## Fig. 4: loss vs compute at one $D_F$

# %%
if ready:
    D_F = common[0]
    figures.show(figures.loss_vs_compute(cf, D_F), f"fig4-{source}-{target}-{profile}",
                 sd.caption("compute", "Solid and dashed: fine-tuned and from-scratch runs"))

# %% [markdown]
# ## Fig. 7: curves against the compute frontier

# %%
if ready:
    figures.show(figures.compute_frontier(cf, D_F), f"fig7-{source}-{target}-{profile}", sd.caption("compute"))

# %% [markdown]
# ## Fig. 8: compute at convergence

# %%
if ready:
    for d in common:
        figures.show(figures.compute_at_convergence(sd.main_records, d), f"fig8-{source}-{target}-{profile}-{int(d)}",
                     sd.caption("compute", "FLOPs to the best validation loss"))
