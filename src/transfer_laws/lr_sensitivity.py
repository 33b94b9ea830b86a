"""Does Table 1 depend on the fine-tuning learning rate? A study read beside the same design fine-tuned at another LR.

The `cpu` profile fine-tunes at the from-scratch peak LR (3e-3). The experiment profile
``benchmarks/profiles/table1-ft-3e-4.toml`` repeats its Hernandez design (every size, the
profile's seeds, the main p) with the fine-tunes at 3e-4, from the same pre-training
runs and data subsets; its results folder holds copies of `cpu`'s from-scratch and
shared pre-training records. ``compare_lrs`` reads the two as that profile says, decided
before any run:

- Table 1's constants at each LR (k, α, β with 95% profile intervals);
- the change of log k, α and β from one joint fit that shares the from-scratch curve
  (``compare_sources``, with the LR in the role of the source). The joint fit treats the
  two LRs' fine-tunes as independent; they share pre-training runs and data subsets, so
  their errors are positively correlated and the interval of a difference is
  conservative (too wide, not too narrow);
- the fine-tuned loss change per D_F, paired by (N, D_F, seed), with the standard error
  over the seeds' mean changes (a seed's runs share its pre-training run and subsets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .laws import compare_sources, fit_hernandez
from .laws.results import FitResults

EXPERIMENT_PROFILE = "benchmarks/profiles/table1-ft-3e-4.toml"  # relative to the repository
EXPERIMENT_RESULTS = "experiments/table1-ft-lr"  # relative to the results folder
KEYS = ["n_params", "tokens", "seed"]
CONSTANTS = (("log_k_diff", "log k"), ("alpha_diff", "α"), ("beta_diff", "β"))


def experiment_results(results: str | Path) -> Path:
    return Path(results) / EXPERIMENT_RESULTS


def main_finetunes(sd) -> pd.DataFrame:
    """A study's fine-tunes at its main p by its seeds: (N, D_F, seed, loss, LR, where best)."""
    rows = [{"n_params": float(r["result"]["n_params"]), "tokens": float(r["config"]["tokens"]),
             "seed": r["config"]["seed"], "loss": float(r["result"]["loss"]), "lr": float(r["config"]["train"]["lr"]),
             "phase": r["result"]["best_phase"]}
            for r in sd.records if r["config"]["kind"] == "finetune"
            and float(r["config"]["pretrain_tokens"]) == sd.main_p and r["config"]["seed"] in sd.seeds]
    return pd.DataFrame(rows, columns=KEYS + ["loss", "lr", "phase"])


def loss_change(base: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Per D_F: other's fine-tuned loss minus base's, paired by (N, D_F, seed); the mean,
    its standard error over the seeds' mean changes, and each seed's mean change."""
    paired = other.merge(base, on=KEYS, suffixes=("", "_base"))
    if paired.empty:
        return pd.DataFrame(columns=["D_F", "runs", "loss at base LR", "change", "se", "by seed"])
    paired["diff"] = paired["loss"] - paired["loss_base"]
    rows = []
    for f, g in paired.groupby("tokens"):
        by_seed = g.groupby("seed")["diff"].mean()
        rows.append({"D_F": f, "runs": len(g), "loss at base LR": g["loss_base"].mean(), "change": by_seed.mean(),
                     "se": by_seed.std(ddof=1) / np.sqrt(len(by_seed)) if len(by_seed) > 1 else np.nan,
                     "by seed": ", ".join(f"{v:+.3f}" for v in by_seed)})
    return pd.DataFrame(rows)


def warmup_share(ft: pd.DataFrame) -> pd.Series:
    """Per D_F, the share of fine-tunes whose kept checkpoint lies inside warm-up."""
    return ft.groupby("tokens")["phase"].apply(lambda s: float((s == "warmup").mean()))


def constant_changes(base: pd.DataFrame, other: pd.DataFrame, base_label: str, other_label: str,
                     n_boot: int = 0) -> FitResults:
    """log k, α and β of ``other`` minus ``base``: the ``main_runs`` of one pair and design
    at two fine-tuning LRs, from one joint fit sharing the from-scratch runs (``base``'s;
    ``other``'s must be the same runs). Each side's fine-tunes are fitted as the source
    named by its label."""
    a, b = other[other["kind"] == "finetune"].assign(source=other_label), base.copy()
    b.loc[b["kind"] == "finetune", "source"] = base_label
    return compare_sources(pd.concat([b, a], ignore_index=True), source_a=other_label, source_b=base_label,
                           n_boot=n_boot)


def _lr(sd) -> float:
    lrs = main_finetunes(sd)["lr"].unique()
    return float(lrs[0]) if len(lrs) == 1 else float("nan")


@dataclass
class LRComparison:
    """Table 1 of one pair at two fine-tuning LRs (``compare_lrs``)."""
    pair: str
    lrs: tuple[float, float]  # (base, other)
    fits: tuple[FitResults, FitResults]
    changes: FitResults
    losses: pd.DataFrame
    warmup: tuple[pd.Series, pd.Series]

    def constants(self) -> pd.DataFrame:
        """One row per LR: k, α, β with their 95% profile intervals and widths."""
        rows = []
        for lr, fit in zip(self.lrs, self.fits):
            ci = fit.conf_int()
            rows.append({"fine-tuning LR": lr, **{k: fit.params[k] for k in ("k", "alpha", "beta")},
                         **{f"{k}_low": ci.loc[k, 0] for k in ("k", "alpha", "beta")},
                         **{f"{k}_high": ci.loc[k, 1] for k in ("k", "alpha", "beta")}})
        return pd.DataFrame(rows)

    def moved(self) -> dict[str, bool | None]:
        """Per constant, whether the change's interval excludes 0 (None: not fitted)."""
        ci = self.changes.conf_int()
        return {sym: (None if k not in ci.index else bool(ci.loc[k, 0] > 0 or ci.loc[k, 1] < 0))
                for k, sym in CONSTANTS}


def compare_lrs(base, other, fit=fit_hernandez) -> LRComparison:
    """``base`` and ``other``: ``read_study`` of one pair under two profiles that differ in
    the fine-tuning LR only."""
    fb, fo = main_finetunes(base), main_finetunes(other)
    lrs = (_lr(base), _lr(other))
    scratch = [sd.main_runs[sd.main_runs["kind"] == "scratch"].sort_values(["n_params", "tokens", "seed"])
               for sd in (base, other)]
    if not np.array_equal(scratch[0]["loss"].to_numpy(), scratch[1]["loss"].to_numpy()):
        raise InputError(f"{base.source} → {base.target}: the two studies' from-scratch runs differ; the LRs can "
                         "only be compared on the same from-scratch runs (copy the base study's records into the "
                         "experiment's results folder)")
    return LRComparison(pair=f"{base.source} → {base.target}", lrs=lrs,
                        fits=(fit(base.main_runs, n_boot=0), fit(other.main_runs, n_boot=0)),
                        changes=constant_changes(base.main_runs, other.main_runs, f"LR {lrs[0]:g}", f"LR {lrs[1]:g}"),
                        losses=loss_change(fb, fo), warmup=(warmup_share(fb), warmup_share(fo)))
