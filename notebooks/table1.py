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
# has the details) and set beside the paper's rows, with 95% intervals from 1,000
# bootstrap resamples of runs.

# %% tags=["parameters"]
results = "results"
data_dir = "data"
studies = "[]"

# %%
import json

import pandas as pd
from IPython.display import Markdown, display

from transfer_laws import figures
from transfer_laws.analysis import load_study
from transfer_laws.book import check_parameters

PAPER = [  # Hernandez et al. (2021), Table 1: characters, models up to 1e9 parameters
    {"pair": "text → python (paper)", "k": 1.9e4, "alpha": 0.18, "beta": 0.38, "ours": False},
    {"pair": "50% text + 50% non-python code → python (paper)", "k": 2.1e5, "alpha": 0.096, "beta": 0.38, "ours": False},
]
rows, missing = [], []
for s in json.loads(studies):
    check_parameters(s["source"], s["target"], s["profile"], data_dir)
    sd = load_study(s["source"], s["target"], s["profile"], results, data_dir, n_boot=1000)
    pair = f"{s['source']} → {s['target']} ({s['profile']})"
    if sd.hernandez is None:
        missing.append(f"**{pair}**: " + " ".join(sd.missing.values()))
        continue
    h, ci = sd.hernandez, sd.hernandez.conf_int()
    rows.append({"pair": pair, "source": s["source"], "target": s["target"], "ours": True,
                 "points": h.info["n_points"],
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


display(pd.DataFrame([{"source → target": r["pair"], "k": cell(r, "k", ".2g"), "alpha": cell(r, "alpha", ".3g"),
                       "beta": cell(r, "beta", ".3g"), "points fitted": f"{r['points']:.0f}" if r["ours"] else ""}
                      for _, r in table.iterrows()]))

# %% [markdown]
# ## α and β per pair
# Points: estimates; bars: 95% bootstrap intervals; hollow points: the paper's values.

# %%
if len(ours):
    figures.show(figures.exponents_by_pair(table), "table1-exponents",
                 "Made by notebooks/table1.py from every study in book/studies.toml and Hernandez et al. (2021), Table 1.")

# %% [markdown]
# ## The paper's two readings, on our runs

# %%
def overlap(a: pd.Series, b: pd.Series, k: str) -> bool:
    return max(a[f"{k}_low"], b[f"{k}_low"]) <= min(a[f"{k}_high"], b[f"{k}_high"])


pairs = [(a, b) for i, a in ours.iterrows() for j, b in ours.iterrows()
         if i < j and a["target"] == b["target"] and a["source"] != b["source"]] if len(ours) else []
lines = []
for a, b in pairs:
    beta = ("intervals overlap: no evidence that β differs" if overlap(a, b, "beta")
            else "intervals do not overlap: β differs between these sources")
    if overlap(a, b, "alpha"):
        alpha = "intervals overlap: these runs cannot order the sources by closeness"
    else:
        closer = a if a["alpha"] < b["alpha"] else b
        alpha = f"intervals do not overlap: by the paper's reading {closer['source']} is the closer source"
    lines.append(f"- **{a['pair']}** vs **{b['pair']}**: β {a['beta']:.2f} vs {b['beta']:.2f}, {beta}; "
                 f"α {a['alpha']:.2f} vs {b['alpha']:.2f}, {alpha}.")
display(Markdown("\n".join(lines) if lines else
                 "Comparing sources needs fitted studies of at least two sources with the same target."))
