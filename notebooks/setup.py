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
# # Setup: corpora, tokenizer, models, profiles
#
# Everything below is read from the committed data manifest (`data/manifest.json`),
# the package's recipes and profiles, and the model family: no number on this page
# is typed by hand.

# %% tags=["parameters"]
results = "results"
data_dir = "data"
studies = "[]"

# %%
import json

import pandas as pd
from IPython.display import Markdown, display

from transfer_laws.data import DataStore
from transfer_laws.model import describe, shape_for
from transfer_laws.study import BUILTIN_PROFILES, load_profile

store = DataStore(data_dir)
manifest = store.manifest()
studies = json.loads(studies)

# %% [markdown]
# ## Corpora
#
# Each distribution is built from pinned registry artifacts (Debian packages, PyPI
# wheels, npm tarballs) whose sha256 is in the manifest, or from a user's own files.
# *Python leakage* is the share of Python-looking lines (`transfer_laws.corpus.PYTHON_LINE`)
# left in a distribution; in every distribution but the Python target, documents with
# more than two such lines are dropped.

# %%
def count(x):
    return "—" if x is None else f"{x:,}"


rows = []
for r in store.listing():
    rows.append({"distribution": r["name"], "kind": r["kind"], "MB": round((r["bytes"] or 0) / 1e6, 1),
                 "train tokens": count(r["train_tokens"]), "validation tokens": count(r["validation_tokens"]),
                 "test tokens": count(r["test_tokens"]),
                 "bytes per token": "—" if r.get("bytes_per_token") is None else f"{r['bytes_per_token']:.2f}",
                 "Python leakage": "—" if r["leakage_share"] is None else f"{100 * r['leakage_share']:.3f}%",
                 "text sha256": (r["sha256"] or "")[:12]})
display(pd.DataFrame(rows).set_index("distribution"))
for r in store.listing():
    display(Markdown(f"- **{r['name']}**: {r['description']} *License:* {r['license']}. "
                     f"*Sources:* {', '.join(f'`{s}`' for s in r['sources'])}."))

# %% [markdown]
# ## Tokenizer

# %%
tk = manifest.get("tokenizer") or {}
display(Markdown(
    f"One byte-level BPE tokenizer with a vocabulary of **{tk.get('vocab_size', '—')}** tokens "
    f"(sha256 `{(tk.get('sha256') or '—')[:16]}`), trained on the first "
    f"{tk.get('sample_chars_per_distribution', 0):,} characters of each of: {', '.join(tk.get('trained_on', []))}. "
    "Why this size: see `transfer_laws/tokenizer.py` and `benchmarks/README.md` (cost per byte of text at "
    "the sizes we train)."))

# %% [markdown]
# ## The model family
#
# GPT-2 (pre-LayerNorm, GELU, learned positions, tied embeddings), at least 2 layers,
# width ≈ 32 × depth, head size 16, MLP ratio 4. N excludes token and position embeddings
# and is counted from the instantiated model. FLOPs per token count the output layer,
# 6·(N + d·V) plus attention; Kaplan's 6N + attention is beside it.

# %%
for name in ("cpu", "gpu"):
    p = load_profile(name)
    fam = pd.DataFrame([describe(shape_for(n, tk.get("vocab_size", 1024), p["n_ctx"])) for n in p["sizes"]])
    fam["output layer share of FLOPs"] = (1 - fam["kaplan_flops_per_token"] / fam["flops_per_token"]).map("{:.0%}".format)
    display(Markdown(f"**`{name}` profile**"))
    display(fam.drop(columns=["n_ctx"]).rename(columns={"n_params": "N", "flops_per_token": "FLOPs/token",
                                                          "kaplan_flops_per_token": "6N + attention"}).style.hide(axis="index")
            .format({"N": "{:,}", "total_params": "{:,}", "FLOPs/token": "{:,.0f}", "6N + attention": "{:,.0f}"}))

# %% [markdown]
# ## Profiles

# %%
prof_rows = []
for name in BUILTIN_PROFILES:
    p = load_profile(name)
    prof_rows.append({"profile": name, "n_ctx": p["n_ctx"], "sizes N": p["sizes"], "scratch D": p["scratch_tokens"],
                      "fine-tune D_F": p["finetune_tokens"], "seeds": len(p["seeds"]),
                      "pre-train p (all N)": p["pretrain_tokens"]["main"],
                      "p grid": p["pretrain_tokens"].get("grid"),
                      "p grid at N": ", ".join(f"{n:,}" for n in p["pretrain_tokens"]["grid_size"])})
display(pd.DataFrame(prof_rows))
display(Markdown("Studies in this book: " + (", ".join(f"{s['source']} → {s['target']} ({s['profile']})" for s in studies) or "none yet")))
