"""RUNS.csv: the one table every fit reads, from our sweeps or from anyone's code.

Columns (one row per finished run):

==================  =========================================================
``kind``            ``scratch`` or ``finetune``
``n_params``        non-embedding parameters N
``tokens``          D for scratch runs, D_F for fine-tuned runs
``pretrain_tokens`` p for fine-tuned runs; empty for scratch
``loss``            best held-out target loss (nats/token, early-stopped)
``source``          optional: pre-training distribution
``target``          optional: target distribution
``seed``            optional (default 0): runs that share a seed form one cluster (a
                    fine-tune with seed s starts from the pre-training run with seed s)
``stopped``         optional: ``early_stop`` (default) or ``budget``
==================  =========================================================

Censored runs, the one rule every fit applies: a ``budget`` run ran out of its token
budget while still improving, so its converged loss is at most the recorded one. It is
never fitted as a measurement; it enters every likelihood ONE-SIDED: it adds to the loss
only where the fitted loss is above its recorded upper bound (``one_sided``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

REQUIRED = ["kind", "n_params", "tokens", "pretrain_tokens", "loss"]
STOPPED = ("early_stop", "budget")


def one_sided(resid: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Residuals (fitted − recorded) with the censoring rule applied: a censored run's
    recorded loss is an upper bound, so it counts only when the fit is above it."""
    return np.where(censored, np.maximum(resid, 0.0), resid)


def read_runs(path_or_frame: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(path_or_frame, pd.DataFrame):
        df = path_or_frame.copy()
        name = "runs table"
    else:
        path = Path(path_or_frame)
        if not path.exists():
            raise InputError(f"{path}: no such file. Export one with `transfer-laws runs export -o {path}`.")
        try:
            df = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: not a readable CSV ({e}).") from None
        name = str(path)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{name}: missing column(s) {', '.join(missing)}; "
                         f"RUNS.csv needs {', '.join(REQUIRED)} (see transfer_laws.laws.runs_table).")
    bad_kind = set(df["kind"].astype(str)) - {"scratch", "finetune"}
    if bad_kind:
        raise InputError(f"{name}: unknown kind(s) {', '.join(sorted(bad_kind))}; use scratch or finetune.")
    for col in ("n_params", "tokens", "loss"):
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = ~(vals > 0) | ~np.isfinite(vals)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{name}: column {col!r} must be a positive number; row {row + 2} has {df[col].iloc[row]!r}.")
        df[col] = vals.astype(float)
    p = pd.to_numeric(df["pretrain_tokens"], errors="coerce")
    ft = df["kind"] == "finetune"
    if (ft & ~(p > 0)).any():
        row = int(np.flatnonzero((ft & ~(p > 0)).to_numpy())[0])
        raise InputError(f"{name}: fine-tuned runs need a positive pretrain_tokens; row {row + 2} has "
                         f"{df['pretrain_tokens'].iloc[row]!r}.")
    df["pretrain_tokens"] = p.where(ft)
    for col in ("source", "target"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str)
    if "seed" not in df.columns:
        df["seed"] = 0
    df["seed"] = df["seed"].fillna(0)
    if "stopped" not in df.columns:
        df["stopped"] = "early_stop"
    df["stopped"] = df["stopped"].fillna("early_stop").astype(str)
    bad_stop = set(df["stopped"]) - set(STOPPED)
    if bad_stop:
        raise InputError(f"{name}: unknown stopped value(s) {', '.join(sorted(bad_stop))}; use early_stop or budget.")
    return df.reset_index(drop=True)
