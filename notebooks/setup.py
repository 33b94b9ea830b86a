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

from transfer_laws import tables
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
rows = [{"distribution": r["name"], "kind": r["kind"], "text": None if r["bytes"] is None else r["bytes"] / 1e6,
         "train": r["train_tokens"], "validation": r["validation_tokens"], "test": r["test_tokens"],
         "bytes per token": r.get("bytes_per_token"),
         "Python leakage": None if r["leakage_share"] is None else 100 * r["leakage_share"],
         "text sha256": (r["sha256"] or "")[:12]} for r in store.listing()]
tables.show(pd.DataFrame(rows), units={"text": "MB", "train": "tokens", "validation": "tokens", "test": "tokens",
                                       "Python leakage": "% of lines"})
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
    fam["output layer share"] = 100 * (1 - fam["kaplan_flops_per_token"] / fam["flops_per_token"])
    display(Markdown(f"**`{name}` profile**"))
    tables.show(fam.drop(columns=["n_ctx"]).rename(columns={
                    "n_params": "N", "n_layer": "layers", "d_model": "width", "n_head": "heads",
                    "vocab_size": "vocabulary", "total_params": "all parameters",
                    "flops_per_token": "FLOPs per token", "kaplan_flops_per_token": "FLOPs per token, 6N + attention"}),
                units={"N": "parameters", "vocabulary": "tokens", "output layer share": "% of FLOPs"},
                digits={"output layer share": 2})

# %% [markdown]
# ## Profiles

# %%
def counts(values) -> str:
    return ", ".join(tables.engineering(v) for v in values) if values else "—"


prof_rows = []
for name in BUILTIN_PROFILES:
    p = load_profile(name)
    prof_rows.append({"profile": name, "context": p["n_ctx"], "sizes N": counts(p["sizes"]),
                      "from scratch D": counts(p["scratch_tokens"]), "fine-tune D_F": counts(p["finetune_tokens"]),
                      "seeds": len(p["seeds"]), "pre-train p (all N)": p["pretrain_tokens"]["main"],
                      "p grid": counts(p["pretrain_tokens"].get("grid")),
                      "p grid at N": counts(p["pretrain_tokens"]["grid_size"])})
tables.show(pd.DataFrame(prof_rows), units={"context": "tokens", "sizes N": "parameters", "from scratch D": "tokens",
                                           "fine-tune D_F": "tokens", "pre-train p (all N)": "tokens",
                                           "p grid": "tokens", "p grid at N": "parameters"})
display(Markdown("Studies in this book: " + (", ".join(f"{s['source']} → {s['target']} ({s['profile']})" for s in studies) or "none yet")))
