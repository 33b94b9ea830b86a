"""Records -> fits for one study: what every chapter notebook starts from.

``load_study`` finds the finished runs of a (source, target, profile) study by the
run ids its plan predicts, turns them into the RUNS table, and fits what the runs
allow; whatever cannot be fitted yet is ``None`` with the reason in ``missing``.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .records import EXPORT_COLUMNS, load_record, record_path, run_id, runs_table_rows
from .study import Study


@dataclass
class StudyData:
    source: str
    target: str
    profile: str
    planned: int
    records: list[dict]
    runs: pd.DataFrame
    main_runs: pd.DataFrame | None = None
    curves: dict | None = None
    ed: pd.DataFrame | None = None
    hernandez: object | None = None
    scratch_forms: pd.DataFrame | None = None  # held-out error of the candidate from-scratch laws
    scratch_form: str = "spline"  # the per-size curve the Hernandez fit uses (SCRATCH_FORM_OF_FIT)
    scratch_form_preferred: str | None = None  # the per-size form held-out error prefers (reported)
    missing: dict[str, str] = field(default_factory=dict)
    seeds: tuple = ()  # the profile's seeds: those with every size (not its grid seeds)
    main_p: float | None = None  # the p every size is pre-trained on (Hernandez et al.)
    unrecorded: list[dict] = field(default_factory=list, repr=False)  # planned configs without a record yet

    @property
    def main_complete(self) -> bool:
        """Every planned run of the profile's seeds has a record (what Table 1 reads is
        complete, whatever the grid seeds still lack)."""
        return not any(c["seed"] in self.seeds for c in self.unrecorded)

    @property
    def main_records(self) -> list[dict]:
        """The records of ``main_runs``: from scratch and fine-tuned at the main p, by the
        profile's seeds (what the Hernandez chapters draw)."""
        return [r for r in self.records if r["config"]["seed"] in self.seeds
                and (r["config"]["kind"] == "scratch" or (r["config"]["kind"] == "finetune"
                                                          and float(r["config"]["pretrain_tokens"]) == self.main_p))]

    @property
    def name(self) -> str:
        return f"{self.source} → {self.target} ({self.profile} profile)"

    def caption(self, notebook: str, what: str = "") -> str:
        return (f"{what + '. ' if what else ''}Made by notebooks/{notebook}.py from the {self.source} → {self.target} "
                f"study, {self.profile} profile: {len(self.records)} of {self.planned} planned runs.")

    def convergence(self, kind: str = "scratch") -> pd.DataFrame:
        """How each run ended: ``early_stop`` (converged), or ``budget`` (it reached its
        token budget still improving: censored, its loss an upper bound), and where the
        kept checkpoint lies (the stable phase or the cooldown from it)."""
        rows = []
        for r in self.records:
            c, res = r["config"], r["result"]
            if c["kind"] != kind:
                continue
            rows.append({"N": res["n_params"], "D": c["tokens"], "seed": c["seed"], "steps": res["steps"],
                         "epochs": res["tokens_trained"] / c["tokens"], "kept step": res["best_step"],
                         "kept from": res["best_phase"], "stopped": res["stopped"]})
        return pd.DataFrame(rows, columns=["N", "D", "seed", "steps", "epochs", "kept step", "kept from", "stopped"]
                            ).sort_values(["N", "D", "seed"], ignore_index=True)

    def provenance(self) -> pd.DataFrame:
        rows = [{"kind": r["config"]["kind"], "N": r["result"]["n_params"], "D": r["config"]["tokens"],
                 "loss": r["result"].get("loss"), "commit": (r["provenance"]["git_commit"] or "")[:12],
                 "hardware": r["provenance"]["hardware"], "seed": r["provenance"]["seed"],
                 "wall_s": r["provenance"]["wall_s"], "tokens_per_s": r["provenance"]["tokens_per_s"],
                 "record": f"results/runs/{r['run_id']}.json"} for r in self.records]
        return pd.DataFrame(rows)


FIT_CACHE_VERSION = 5  # bump when a fit's estimator changes


def cached_fit(results: str | Path, what: str, table: pd.DataFrame, fit, **options):
    """``fit(table, **options)``, computed once per study: the result is kept under
    ``results/fits/`` keyed by the runs table's content, the options and
    ``FIT_CACHE_VERSION``, so every notebook of a book build reads the same fit instead
    of refitting. A cache that cannot be read or written is ignored."""
    key = hashlib.sha256(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes()
                         + repr((what, sorted(options.items()), FIT_CACHE_VERSION)).encode()).hexdigest()[:20]
    path = Path(results) / "fits" / f"{what}-{key}.pkl"
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.PickleError, EOFError, AttributeError):
        pass
    result = fit(table, **options)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(result, fh)
        tmp.replace(path)
    except (OSError, pickle.PicklingError, AttributeError, TypeError):
        pass
    return result


# The Hernandez fit's from-scratch curve per size, fixed by design rather than chosen per
# study: the spline is the form whose intervals stay calibrated when the true curve is not
# a power law (benchmarks/README.md, the kink case), and a per-study choice by held-out
# error would make the form, and so the intervals, depend on the data they are read from.
# The table of forms and what held-out error prefers are shown on the scratch page beside
# this choice (benchmarks/README.md has the two forms' fits on the english -> python runs).
SCRATCH_FORM_OF_FIT = "spline"


def read_study(source: str, target: str, profile: str, results: str | Path = "results",
               data_dir: str | None = None) -> StudyData:
    """The study's records and RUNS table, nothing fitted: the runs its plan predicts
    that have a record, and ``main_runs`` (from scratch, and fine-tuned at the main p, by
    the profile's ``seeds``: not its ``grid_seeds``, which have no from-scratch runs)."""
    study = Study.from_names(source, target, profile, results=results, data_dir=data_dir)
    configs = study.configs()
    have = {id(c): record_path(study.results, run_id(c)).exists() for c in configs}
    records = [load_record(record_path(study.results, run_id(c))) for c in configs if have[id(c)]]
    runs = pd.DataFrame(runs_table_rows(records), columns=EXPORT_COLUMNS)
    runs["pretrain_tokens"] = pd.to_numeric(runs["pretrain_tokens"], errors="coerce")
    main_p = float(study.profile["pretrain_tokens"]["main"])
    sd = StudyData(source, target, profile, len(configs), records, runs, seeds=tuple(study.profile["seeds"]),
                   main_p=main_p, unrecorded=[c for c in configs if not have[id(c)]])
    # Hernandez et al.: every size pre-trained on the same p, by the seeds that have every
    # size; the extra p values and the grid seeds belong to the transfer-gap part of the study.
    main = ((runs["kind"] == "scratch") | (runs["pretrain_tokens"] == main_p)) & runs["seed"].isin(study.profile["seeds"])
    sd.main_runs = runs[main].reset_index(drop=True)
    return sd


def load_study(source: str, target: str, profile: str, results: str | Path = "results",
               data_dir: str | None = None, n_boot: int = 200) -> StudyData:
    """``n_boot``: seed-cluster resamples of the Hernandez fit (its ``ci95`` is the
    profile-likelihood interval; the bootstrap is reported beside it)."""
    from .laws import effective_data, fit_curves, fit_hernandez

    sd = read_study(source, target, profile, results, data_dir)
    runs = sd.runs
    try:
        sd.curves = fit_curves(runs)
    except InputError as e:
        sd.missing["curves"] = str(e)
        return sd
    try:
        sd.ed = effective_data(sd.main_runs, sd.curves)
    except InputError as e:
        sd.missing["effective_data"] = str(e)
        return sd
    from .laws.scratch_law import choose_scratch_form, compare_scratch_forms

    try:
        sd.scratch_forms = cached_fit(results, "scratch_forms", sd.runs, compare_scratch_forms)
        sd.scratch_form_preferred = choose_scratch_form(sd.scratch_forms)
    except InputError as e:  # too few runs to compare: the fit's default form
        sd.missing["scratch_forms"] = str(e)
    sd.scratch_form = SCRATCH_FORM_OF_FIT
    try:
        sd.hernandez = cached_fit(results, "hernandez", sd.main_runs, fit_hernandez, n_boot=n_boot,
                                  scratch_form=sd.scratch_form)
    except InputError as e:
        sd.missing["hernandez"] = str(e)
    return sd



def open_study(source: str, target: str, profile: str, results: str, data_dir: str | None,
               need: str = "curves", n_boot: int = 0) -> tuple[StudyData, bool]:
    """The first cell of every study chapter: check the parameters, load the study,
    say how complete it is, and whether this chapter (which needs ``need``) can be drawn."""
    from IPython.display import Markdown, display

    from .book import check_parameters

    check_parameters(source, target, profile, data_dir)
    sd = load_study(source, target, profile, results, data_dir, n_boot=n_boot)
    display(Markdown(f"**Study:** {sd.name}: {len(sd.records)} of {sd.planned} planned runs have records."))
    ready = getattr(sd, need) is not None
    if not ready:
        display(Markdown("**Not reproduced yet.** " + " ".join(sd.missing.values())
                         + f" Run `make study SOURCE={source} TARGET={target} PROFILE={profile}` to train the missing runs."))
    return sd, ready


@dataclass
class OutOfSample:
    """The Hernandez law refitted without the largest size's fine-tunes, predicting them
    (``out_of_sample``): every fine-tune with its predicted loss (``runs``), the error over
    the held-out ones, and the seed noise of those runs to set it beside."""
    runs: pd.DataFrame  # set, n_params, tokens, seed, loss, predicted
    largest: float
    rms: float
    max_abs: float
    noise_rms: float  # the run-to-run σ at the held-out (N, D_F), RMS
    cluster_sd: float  # a pre-training seed's shift of all its fine-tunes
    noise_source: str
    replicated: bool  # whether the noise comes from seed replicates

    @property
    def held_out(self) -> pd.DataFrame:
        return self.runs[self.runs["n_params"] == self.largest]


def out_of_sample(sd) -> OutOfSample:
    """Refit ``sd``'s Hernandez law without the largest size's fine-tuned runs (its
    from-scratch runs stay: they pin its curve) and predict those fine-tuned losses from
    that size's own from-scratch curve and the refit's D_T. ``sd``: a ``load_study`` with
    curves."""
    from .laws import estimate_noise, fit_hernandez, predict_dt, predict_finetune_loss

    runs = sd.main_runs
    largest = float(runs["n_params"].max())
    is_test = (runs["kind"] == "finetune") & (runs["n_params"] == largest)
    held = fit_hernandez(runs[~is_test], n_boot=0, profile=False, scratch_form=sd.scratch_form)

    def predicted_loss(n: float, d: float) -> float:
        if n == largest:  # its own from-scratch curve, the held-out fit's D_T
            return float(sd.curves[largest].loss(d + predict_dt(held.params, d, n)))
        return float(predict_finetune_loss(held, n, d)[0])

    ft = runs[runs["kind"] == "finetune"]
    both = ft.assign(set=np.where(ft["n_params"] == largest, "held out (largest N)", "fitted"))
    both["predicted"] = [predicted_loss(n, d) for n, d in zip(both["n_params"], both["tokens"])]
    test = both[both["n_params"] == largest]
    err = (test["predicted"] - test["loss"]).to_numpy()
    noise = estimate_noise(runs)
    sigma = noise.sd(np.full(len(test), "finetune"), test["n_params"].to_numpy(), test["tokens"].to_numpy())
    return OutOfSample(both[["set", "n_params", "tokens", "seed", "loss", "predicted"]].reset_index(drop=True),
                       largest, float(np.sqrt(np.mean(err**2))), float(np.abs(err).max()),
                       float(np.sqrt(np.mean(sigma**2))), float(noise.cluster_sd("finetune")), noise.source,
                       bool(noise.glm))
