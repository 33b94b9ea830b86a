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

import pandas as pd
from IPython.display import Markdown, display

from transfer_laws import figures
from transfer_laws.analysis import load_study
from transfer_laws.book import check_parameters

PAPER = [  # Hernandez et al. (2021), Table 1: characters, models up to 1e9 parameters
    {"pair": "text → python (paper)", "k": 1.9e4, "alpha": 0.18, "beta": 0.38, "ours": False},
    {"pair": "50% text + 50% non-python code → python (paper)", "k": 2.1e5, "alpha": 0.096, "beta": 0.38, "ours": False},
]
rows, missing, runs_of = [], [], {}
for s in json.loads(studies):
    check_parameters(s["source"], s["target"], s["profile"], data_dir)
    sd = load_study(s["source"], s["target"], s["profile"], results, data_dir, n_boot=200)
    pair = f"{s['source']} → {s['target']} ({s['profile']})"
    if sd.hernandez is None:
        missing.append(f"**{pair}**: " + " ".join(sd.missing.values()))
        continue
    h, ci = sd.hernandez, sd.hernandez.conf_int()
    runs_of[pair] = sd.main_runs
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


display(pd.DataFrame([{"source → target": r["pair"], "k": cell(r, "k", ".2g"), "alpha": cell(r, "alpha", ".3g"),
                       "beta": cell(r, "beta", ".3g"), "points fitted": f"{r['points']:.0f}" if r["ours"] else ""}
                      for _, r in table.iterrows()]))

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
        d = compare_sources(both, a["source"], b["source"], n_boot=200)
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
