"""Does Table 1 depend on the fine-tuning learning rate? One pair's Hernandez design at two fine-tuning LRs, read side by side.

The `cpu` profile fine-tunes at the from-scratch peak LR (3e-3). Two experiment profiles
repeat its Hernandez design (every size, the profile's seeds, the main p) from the same
pre-training runs and data subsets (``compare_lrs`` checks both): ``table1-ft-3e-3.toml`` at `cpu`'s LR and
``table1-ft-3e-4.toml`` at 3e-4 (in ``benchmarks/profiles/``; records in
``results/experiments/table1-ft-lr/``, with copies of `cpu`'s from-scratch runs and of the
runs whose configs equal `cpu`'s). They differ in the fine-tuning LR alone.
``compare_lrs`` reads them as the 3e-4 profile says, decided before any run: Table 1's
constants at each LR (k, α, β with 95% profile intervals), and the change of α and of β
from one joint fit that shares the from-scratch curve (``compare_sources``, with the LR in
the role of the source; a change is read only where its interval excludes 0, and
otherwise as can't tell). Beside them, not part of that reading: the fine-tuned loss
change per D_F, paired by (N, D_F, seed), and the share of fine-tunes best in warm-up.

The joint fit treats the two LRs' fine-tunes of one (N, seed) as separate clusters. They
share a pre-training run and data subsets, so where their offsets correlate positively
(``offset_correlation`` measures it, on the offsets' levels, not on the errors of α and
β) the interval of a difference is probably too wide; pooling both LRs' clusters into the
noise estimate gives it twice the degrees of freedom of a single fit (a critical value of
F(1, 20) rather than F(1, 10), about 6% narrower), and one noise model for both LRs,
although the fine-tunes scatter less at the lower LR. None of these is corrected, and the
joint fit's constants at each LR (``LRComparison.joint_constants``) differ from the
separate fits' for that reason: the weights differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InputError
from .laws import compare_sources, fit_hernandez
from .laws.results import FitResults

REPOSITORY = Path(__file__).resolve().parents[2]  # an editable install's checkout: the profiles are not packaged
BASE_PROFILE = str(REPOSITORY / "benchmarks" / "profiles" / "table1-ft-3e-3.toml")
OTHER_PROFILE = str(REPOSITORY / "benchmarks" / "profiles" / "table1-ft-3e-4.toml")
EXPERIMENT_RESULTS = "experiments/table1-ft-lr"  # relative to the results folder
KEYS = ["n_params", "tokens", "seed"]
CHANGES = (("alpha_diff", "α"), ("beta_diff", "β"))  # what the profile registered


def lr_label(lr: float) -> str:
    """A learning rate as the profiles and the text write it: 3e-4, not 0.0003."""
    mantissa, exponent = f"{lr:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def experiment_results(results: str | Path) -> Path:
    return Path(results) / EXPERIMENT_RESULTS


def _main_finetune_records(sd) -> list[dict]:
    """The records of a study's fine-tunes at its main p by its seeds (what Table 1 reads)."""
    return [r for r in sd.records if r["config"]["kind"] == "finetune"
            and float(r["config"]["pretrain_tokens"]) == sd.main_p and r["config"]["seed"] in sd.seeds]


def main_finetunes(sd) -> pd.DataFrame:
    """A study's fine-tunes at its main p by its seeds: (N, D_F, seed, loss, LR, where best)."""
    rows = [{"n_params": float(r["result"]["n_params"]), "tokens": float(r["config"]["tokens"]),
             "seed": r["config"]["seed"], "loss": float(r["result"]["loss"]), "lr": float(r["config"]["train"]["lr"]),
             "phase": r["result"]["best_phase"]} for r in _main_finetune_records(sd)]
    return pd.DataFrame(rows, columns=KEYS + ["loss", "lr", "phase"])


def loss_change(base: pd.DataFrame, other: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per D_F: other's fine-tuned loss minus base's, paired by (N, D_F, seed); the mean of
    the seeds' mean changes, its standard error and t interval over the seeds (a seed's
    runs share its pre-training run and subsets, so the seeds are the replicates), and
    each seed's mean change."""
    paired = other.merge(base, on=KEYS, suffixes=("", "_base"))
    cols = ["D_F", "runs", "loss at base LR", "change", "se", "low", "high", "by seed"]
    if paired.empty:
        return pd.DataFrame(columns=cols)
    paired["diff"] = paired["loss"] - paired["loss_base"]
    rows = []
    for f, g in paired.groupby("tokens"):
        by_seed = g.groupby("seed")["diff"].mean()
        n = len(by_seed)
        se = by_seed.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        t = stats.t.ppf(0.5 + level / 2, n - 1) if n > 1 else np.nan
        rows.append({"D_F": f, "runs": len(g), "loss at base LR": g["loss_base"].mean(), "change": by_seed.mean(),
                     "se": se, "low": by_seed.mean() - t * se, "high": by_seed.mean() + t * se,
                     "by seed": ", ".join(f"{v:+.3f}" for v in by_seed)})
    return pd.DataFrame(rows, columns=cols)


def offset_correlation(base: pd.DataFrame, other: pd.DataFrame) -> float:
    """The correlation, over (N, seed), of each seed's offset at one LR with its offset at
    the other: the mean fine-tuned log-loss of an (N, seed) less that N's mean over seeds,
    over the D_F both have. Positive: the LRs' errors share the seed's pre-training run."""
    paired = other.merge(base, on=KEYS, suffixes=("", "_base"))
    if paired.empty:
        return float("nan")
    m = paired.assign(a=np.log(paired["loss"]), b=np.log(paired["loss_base"])).groupby(["n_params", "seed"])[["a", "b"]].mean()
    dev = m - m.groupby(level="n_params").transform("mean")
    return float(np.corrcoef(dev["a"], dev["b"])[0, 1]) if len(dev) > 2 else float("nan")


def warmup_share(ft: pd.DataFrame) -> pd.Series:
    """Per D_F, the share of fine-tunes whose kept checkpoint lies inside warm-up."""
    return ft.groupby("tokens")["phase"].apply(lambda s: float((s == "warmup").mean()))


def constant_changes(base_runs: pd.DataFrame, other_runs: pd.DataFrame, base_label: str, other_label: str,
                     n_boot: int = 0) -> FitResults:
    """α, β and log k of ``other_runs`` minus ``base_runs`` (the ``main_runs`` of one pair and
    design at two fine-tuning LRs), from one joint fit on ``base_runs``' from-scratch runs
    (``other_runs``' own are dropped: they must be the same runs, which ``compare_lrs``
    checks). Each side's fine-tunes are fitted as the source named by its label."""
    other_ft = other_runs[other_runs["kind"] == "finetune"].assign(source=other_label)
    base_rows = base_runs.copy()
    base_rows.loc[base_rows["kind"] == "finetune", "source"] = base_label
    return compare_sources(pd.concat([base_rows, other_ft], ignore_index=True), source_a=other_label,
                           source_b=base_label, n_boot=n_boot)


def _one_lr(sd, ft: pd.DataFrame) -> float:
    """The one fine-tuning LR of ``ft``, ``sd``'s ``main_finetunes``."""
    lrs = sorted(ft["lr"].unique())
    if len(lrs) != 1:
        raise InputError(f"{sd.source} → {sd.target} ({Path(str(sd.profile)).stem}): its fine-tunes have "
                         f"{'no LR' if not lrs else 'LRs ' + ', '.join(f'{v:g}' for v in lrs)}; comparing LRs needs "
                         "one fine-tuning LR per study")
    return float(lrs[0])


def _scratch_ids(sd) -> set[str]:
    from .records import run_id

    return {run_id(r["config"]) for r in sd.records if r["config"]["kind"] == "scratch"}


def _checkpoints(sd) -> dict[tuple, str]:
    """(N, seed, D_F) of each main-p fine-tune → the pre-training run it starts from."""
    return {(r["config"]["n_target"], r["config"]["seed"], r["config"]["tokens"]): r["config"].get("pretrain_id")
            for r in _main_finetune_records(sd)}


@dataclass
class LRComparison:
    """Table 1 of one pair at two fine-tuning LRs (``compare_lrs``)."""
    pair: str
    lrs: tuple[float, float]  # (base, other)
    fits: tuple[FitResults, FitResults]
    changes: FitResults
    losses: pd.DataFrame
    warmup: tuple[pd.Series, pd.Series]
    correlation: float  # of the (N, seed) offsets between the LRs

    def constants(self) -> pd.DataFrame:
        """One row per LR: k, α, β with their 95% profile intervals."""
        rows = []
        for lr, fit in zip(self.lrs, self.fits):
            ci = fit.conf_int()
            rows.append({"fine-tuning LR": lr, **{k: fit.params[k] for k in ("k", "alpha", "beta")},
                         **{f"{k}_low": ci.loc[k, 0] for k in ("k", "alpha", "beta")},
                         **{f"{k}_high": ci.loc[k, 1] for k in ("k", "alpha", "beta")}})
        return pd.DataFrame(rows)

    def dispersions(self) -> tuple[float, float]:
        """Each LR's fit: its deviance over residual degrees of freedom (about 1 where the
        runs scatter about the law as the noise model says)."""
        return tuple(float(f.info.get("dispersion", np.nan)) for f in self.fits)

    def joint_constants(self) -> pd.DataFrame:
        """α and β at each LR as the joint fit (one noise model for both) has them."""
        per = self.changes.info.get("per_source", {})
        return pd.DataFrame([{"fine-tuning LR": lr, **{k: per[label].get(k, np.nan) for k in ("alpha", "beta")}}
                             for lr, label in zip(self.lrs, (f"LR {self.lrs[0]:g}", f"LR {self.lrs[1]:g}"))
                             if label in per])

    def readings(self) -> pd.DataFrame:
        """The registered reading: per exponent, the change (other LR minus base LR) with
        its 95% interval, and "moves" where the interval excludes 0, else "can't tell"."""
        ci = self.changes.conf_int()
        return pd.DataFrame([{"exponent": sym, "change": float(self.changes.params[k]), "low": float(ci.loc[k, 0]),
                              "high": float(ci.loc[k, 1]),
                              "reading": "moves" if ci.loc[k, 0] > 0 or ci.loc[k, 1] < 0 else "can't tell"}
                             for k, sym in CHANGES])


def compare_lrs(base, other, fit=fit_hernandez) -> LRComparison:
    """``base`` and ``other``: ``read_study`` of one pair under two profiles that differ in
    the fine-tuning LR only: the same from-scratch runs (same run ids) and every fine-tune
    from the same pre-training run."""
    fb, fo = main_finetunes(base), main_finetunes(other)
    lrs = (_one_lr(base, fb), _one_lr(other, fo))
    if lrs[0] == lrs[1]:
        raise InputError(f"{base.source} → {base.target}: both studies fine-tune at LR {lrs[0]:g}; nothing to compare")
    if _scratch_ids(base) != _scratch_ids(other):
        raise InputError(f"{base.source} → {base.target}: the two studies' from-scratch runs differ; the LRs can "
                         "only be compared on the same from-scratch runs (copy the base study's records into the "
                         "experiment's results folder)")
    cb, co = _checkpoints(base), _checkpoints(other)
    off = sorted(k for k in set(cb) & set(co) if cb[k] != co[k])
    if off:
        raise InputError(f"{base.source} → {base.target}: {len(off)} fine-tunes start from different pre-training runs "
                         f"in the two studies (first: N = {off[0][0]:,}, seed {off[0][1]}, D_F = {off[0][2]:,}); the "
                         "LRs can only be compared from the same checkpoints")
    return LRComparison(pair=f"{base.source} → {base.target}", lrs=lrs,
                        fits=(fit(base.main_runs, n_boot=0), fit(other.main_runs, n_boot=0)),
                        changes=constant_changes(base.main_runs, other.main_runs, f"LR {lrs[0]:g}", f"LR {lrs[1]:g}"),
                        losses=loss_change(fb, fo), warmup=(warmup_share(fb), warmup_share(fo)),
                        correlation=offset_correlation(fb, fo))


def between_sources(a, b) -> FitResults:
    """α, β and log k of source ``a`` minus source ``b`` (``read_study`` of two pairs with
    one target under one profile), from one joint fit sharing the from-scratch runs, as
    the Table 1 page compares sources; here at one fine-tuning LR."""
    if _scratch_ids(a) != _scratch_ids(b):
        raise InputError(f"{a.source} and {b.source} → {a.target}: the studies' from-scratch runs differ; sources are "
                         "compared on the same from-scratch runs")
    both = pd.concat([a.main_runs, b.main_runs[b.main_runs["kind"] == "finetune"]], ignore_index=True)
    return compare_sources(both, source_a=a.source, source_b=b.source, n_boot=0)


def source_claims_at_lr(studies: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Table 1 claims (``claims.source_claims``: β equal across sources, α smaller for
    the closer source, on every source pair of ``claims.CLOSER``) tested as the claims page
    tests them, on ``studies``: ``read_study`` of pairs fine-tuned at one LR (one study per
    pair), each fitted here as ``load_study`` fits the book's (its Table 1 fit, no
    bootstrap; a fit that fails is reported as the claims page reports it). A source pair
    without both studies is left out: nothing was tested. Returns (one row per claim with
    its combined verdict, one row per claim and pair), as ``claims.assess`` does, the
    Bonferroni correction counting these pairs only."""
    from dataclasses import asdict

    from .analysis import SCRATCH_FORM_OF_FIT
    from .claims import CLOSER, combine, correct_for_tests, source_claims

    by_pair = {}
    for sd in studies:
        if (sd.source, sd.target) in by_pair:
            raise InputError(f"{sd.source} → {sd.target} is given twice; one study per pair")
        by_pair[(sd.source, sd.target)] = sd
    lrs = {_one_lr(sd, main_finetunes(sd)) for sd in studies}
    if len(lrs) > 1:
        raise InputError(f"the studies fine-tune at {', '.join(f'{v:g}' for v in sorted(lrs))}; the claims are tested at "
                         "one LR at a time")
    for sd in studies:
        if sd.hernandez is None and "hernandez" not in sd.missing:
            try:
                sd.hernandez = fit_hernandez(sd.main_runs, n_boot=0, scratch_form=SCRATCH_FORM_OF_FIT)
            except InputError as e:
                sd.missing["hernandez"] = str(e)
    present = {f"{far} vs {close} → {target}" for far, close, target, _ in CLOSER
               if (far, target) in by_pair and (close, target) in by_pair}
    claims = correct_for_tests([c for c in source_claims({(*k, "one LR"): sd for k, sd in by_pair.items()})
                                if c.pair in present])
    detail = pd.DataFrame([{"paper": c.paper, "claim": c.claim,
                            **{k: v for k, v in asdict(c).items() if k != "recheck"}} for c in claims])
    summary = pd.DataFrame([{"paper": these[0].paper, "claim": these[0].claim, "verdict": combine(these),
                             "tested on": ", ".join(c.pair for c in these)}
                            for key in dict.fromkeys(c.key for c in claims)
                            for these in [[c for c in claims if c.key == key]]])
    return summary, detail
