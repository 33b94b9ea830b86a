"""Studies: (source, target, profile) -> the plan of runs -> a resumable sweep.

A profile (``profiles/*.toml``) is plain data: model sizes, the from-scratch D grid,
the fine-tuning D_F grid, the pre-training sizes, and the hyperparameters of each
run kind. ``plan`` turns it into run configs; ``Study.sweep`` runs the ones whose
record is missing, pre-training first, and can be killed at any moment: a run's
record is written atomically when it finishes, so a restart loses at most the run
in flight and rewrites nothing.
"""

from __future__ import annotations

import os
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from .data import DataError, DataStore
from .errors import InputError
from .model import shape_for
from .records import CONFIG_SCHEMA, record_path, run_id
from .subsets import SLOTS
from .runs import execute_run, finetune_checkpoint
from .train import TrainConfig

BUILTIN_PROFILES = ("smoke", "cpu", "gpu")


def _positive_ints(name: str, key: str, values) -> list[int]:
    if not isinstance(values, list) or not values or any((not isinstance(v, int)) or v <= 0 for v in values):
        raise InputError(f"profile {name!r}: {key} must be a non-empty list of positive integers")
    return values


def load_profile(name_or_path: str) -> dict[str, Any]:
    if name_or_path in BUILTIN_PROFILES:
        text = resources.files("transfer_laws").joinpath(f"profiles/{name_or_path}.toml").read_text()
    else:
        p = Path(name_or_path)
        if not p.exists():
            raise InputError(f"unknown profile {name_or_path!r}: use one of {', '.join(BUILTIN_PROFILES)} "
                             f"or a path to a profile .toml")
        text = p.read_text()
    try:
        prof = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"profile {name_or_path!r} is not valid TOML: {e}") from None
    name = prof.setdefault("name", name_or_path)
    for key in ("sizes", "scratch_tokens", "finetune_tokens", "pretrain_tokens", "n_ctx"):
        if key not in prof:
            raise InputError(f"profile {name!r} lacks {key!r}")
    for key in ("sizes", "scratch_tokens", "finetune_tokens"):
        _positive_ints(name, key, prof[key])
    seeds = prof.setdefault("seeds", [0])
    if not isinstance(seeds, list) or not seeds or any((not isinstance(v, int)) or v < 0 for v in seeds):
        raise InputError(f"profile {name!r}: seeds must be a non-empty list of non-negative integers")
    off_grid = sorted(set(prof["finetune_tokens"]) - set(prof["scratch_tokens"]))
    if off_grid:
        raise InputError(f"profile {name!r}: finetune_tokens {off_grid} are not on the scratch_tokens grid; every "
                         f"D_F must also be a from-scratch D, so that the pair shares data and batch order")
    pt = prof["pretrain_tokens"]
    if not isinstance(pt.get("main"), int) or pt["main"] <= 0:
        raise InputError(f"profile {name!r}: pretrain_tokens.main must be a positive integer (p at every size)")
    pt["grid"] = _positive_ints(name, "pretrain_tokens.grid", pt["grid"]) if pt.get("grid") else []
    # the model size(s) the p grid is trained at: one N, or a list of them
    gap_sizes = pt.setdefault("grid_size", prof["sizes"][0])
    pt["grid_size"] = _positive_ints(name, "pretrain_tokens.grid_size (the model sizes the p grid is "
                                     "trained at)", [gap_sizes] if isinstance(gap_sizes, int) else gap_sizes)
    # D_F for the extra p values of the transfer-gap grid; by default the whole D_F grid
    _positive_ints(name, "pretrain_tokens.grid_finetune_tokens (leave it out to fine-tune the p grid at "
                   "every finetune_tokens)", pt.setdefault("grid_finetune_tokens", prof["finetune_tokens"]))
    # more seeds for the transfer gap alone: at grid_seeds_size, pre-training and fine-tunes, no from-scratch runs
    grid_seeds = pt.setdefault("grid_seeds", [])
    if not isinstance(grid_seeds, list) or any((not isinstance(v, int)) or v < 0 for v in grid_seeds) \
            or len(set(grid_seeds)) < len(grid_seeds):
        raise InputError(f"profile {name!r}: pretrain_tokens.grid_seeds must be a list of distinct non-negative "
                         f"integers")
    if set(grid_seeds) & set(seeds):
        raise InputError(f"profile {name!r}: pretrain_tokens.grid_seeds {sorted(set(grid_seeds) & set(seeds))} are "
                         f"already in seeds; grid seeds add seeds to the transfer-gap sizes only")
    every = seeds + grid_seeds
    if len({s % SLOTS for s in every}) < len(every):
        raise InputError(f"profile {name!r}: seeds {every} (seeds and pretrain_tokens.grid_seeds) would share data "
                         f"subsets (a seed's subset is its number modulo {SLOTS}, transfer_laws.subsets); use "
                         f"seeds 0..{SLOTS - 1}")
    seed_sizes = pt.setdefault("grid_seeds_size", pt["grid_size"])
    pt["grid_seeds_size"] = seed_sizes = sorted(set(_positive_ints(
        name, "pretrain_tokens.grid_seeds_size (the sizes the grid seeds run at)",
        [seed_sizes] if isinstance(seed_sizes, int) else seed_sizes)))
    off = sorted(set(seed_sizes) - set(pt["grid_size"]))
    if off:
        raise InputError(f"profile {name!r}: pretrain_tokens.grid_seeds_size {off} are not in grid_size "
                         f"{pt['grid_size']}; grid seeds run where the p grid is")
    known = set(TrainConfig.__dataclass_fields__)
    for kind in ("train", "pretrain", "scratch", "finetune"):
        bad = set(prof.get(kind, {})) - known
        if bad:
            raise InputError(f"profile {name!r}: unknown hyperparameters in [{kind}]: {', '.join(sorted(bad))}")
    return prof


def train_config(prof: dict[str, Any], kind: str) -> TrainConfig:
    """A run kind's hyperparameters: the profile's [train] table, then its [kind] table."""
    return TrainConfig(**{**prof.get("train", {}), **prof.get(kind, {})})


def plan(source: str, target: str, prof: dict[str, Any], store: DataStore) -> list[dict[str, Any]]:
    """Every run of the study, as configs. Pretrain configs come first.

    For each seed: one pre-training run per size, with a checkpoint at the main p (the
    Hernandez law holds p fixed) and, at the ``grid_size`` sizes, at every p of the grid
    (Barnett's transfer gap); a from-scratch run per (size, D); a fine-tune per (size, p,
    D_F), starting from the same seed's pre-training run, on the same seed's data subset.
    Each of the ``grid_seeds`` adds, at the ``grid_seeds_size`` sizes only, the same
    pre-training run and fine-tunes, and no from-scratch runs: more seeds where the
    transfer gap is fitted (the Hernandez law reads the ``seeds``, which have every size)."""
    vocab = (store.manifest().get("tokenizer") or {}).get("vocab_size")
    if vocab is None:
        raise DataError("no tokenizer is built; run `transfer-laws data build` (or `data add`) first.")
    sizes = {"source": store.split_tokens(source, "train"), "target": store.split_tokens(target, "train")}
    n_ctx = prof["n_ctx"]
    pt = prof["pretrain_tokens"]
    main_p, gap, gap_sizes, gap_df = pt["main"], pt["grid"], pt["grid_size"], pt["grid_finetune_tokens"]
    for what, values, limit in (("scratch_tokens", prof["scratch_tokens"], sizes["target"]),
                                ("finetune_tokens", prof["finetune_tokens"], sizes["target"]),
                                ("grid_finetune_tokens", gap_df, sizes["target"]),
                                ("pretrain_tokens", [main_p, *gap], sizes["source"])):
        dist = target if what != "pretrain_tokens" else source
        for v in values:
            if v > limit:
                raise DataError(f"profile {prof['name']!r} asks for {what}={v:,}, but {dist!r} has only "
                                f"{limit:,} train tokens. Lower it in the profile or use a larger distribution.")
            if v <= n_ctx:
                raise InputError(f"profile {prof['name']!r}: {what}={v} is not longer than one context ({n_ctx}).")

    manifest = store.manifest()

    def cfg(kind: str, n: int, tokens: int, seed: int, **extra) -> dict[str, Any]:
        shape = shape_for(n, vocab, n_ctx)
        return {"schema": CONFIG_SCHEMA, "kind": kind, "n_target": n, "shape": shape.to_dict(), "tokens": tokens,
                "seed": seed, "train": train_config(prof, kind).to_dict(),
                "tokenizer_sha256": manifest["tokenizer"]["sha256"], **extra}

    src_sha = manifest["distributions"][source]["tokens_sha256"]["train"]
    tgt_sha = manifest["distributions"][target]["tokens_sha256"]["train"]
    pretrains, scratch, finetunes = [], [], []
    design = [(seed, n, True) for seed in prof["seeds"] for n in prof["sizes"]]
    design += [(seed, n, False) for seed in pt["grid_seeds"] for n in pt["grid_seeds_size"]]
    for seed, n, with_scratch in design:
        ps = sorted({main_p, *gap}) if n in gap_sizes else [main_p]
        pre = cfg("pretrain", n, max(ps), seed, source=source, data_sha256=src_sha, checkpoints=ps)
        pretrains.append(pre)
        if with_scratch:
            for d in prof["scratch_tokens"]:
                scratch.append(cfg("scratch", n, d, seed, target=target, data_sha256=tgt_sha))
        for p in ps:
            # the main p is fine-tuned on the whole D_F grid, the other p on the grid's D_F
            for d in (prof["finetune_tokens"] if p == main_p else gap_df):
                finetunes.append(cfg("finetune", n, d, seed, target=target, data_sha256=tgt_sha,
                                     pretrain=pre, pretrain_id=run_id(pre), pretrain_tokens=p))
    return pretrains + scratch + finetunes


def _cost(c: dict[str, Any]) -> float:
    """A rough order of cost within a size: a run's data size (early stopping makes the
    real cost an outcome)."""
    return c["tokens"]


class Executor(Protocol):
    """Runs configs and yields (config, record or exception) as each finishes.

    It starts them in the order given, except that a config is started only once
    ``ready(config)`` holds (a fine-tune waits for its pre-training checkpoint), and
    none is started after ``deadline`` (a ``time.monotonic()`` value). A config that can
    never become ready (nothing is running that could make it so) is yielded with a
    ``DependencyError``. ``ray_executor.RayExecutor`` runs the same method on a Ray cluster."""

    def map(self, fn: Callable[..., dict], configs: list[dict], ready: Callable[[dict], bool] = ...,
            deadline: float | None = None, **kwargs) -> Iterator[tuple[dict, Any]]: ...


class DependencyError(RuntimeError):
    """A run could not start because a run it depends on did not finish."""


def _always(c: dict) -> bool:
    return True


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _blocked(c: dict) -> DependencyError:
    return DependencyError(f"not started: its pretrain run {c.get('pretrain_id', '?')} has no checkpoint "
                           f"(did it fail? see above)")


class SequentialExecutor:
    def map(self, fn, configs, ready=_always, deadline=None, **kwargs):
        for c in configs:
            if _past(deadline):
                return
            if not ready(c):
                yield c, _blocked(c)
                continue
            try:
                yield c, fn(c, **kwargs)
            except (DataError, InputError):
                raise
            except Exception as e:  # a failed run is reported and the sweep goes on
                yield c, e


class ProcessPoolExecutorAdapter:
    """Runs configs in parallel processes. The machine's cores are shared out among the
    processes: two single-threaded runs on 2 cores beat one two-threaded run by 10-25%
    at our sizes (benchmarks/README.md). One pool serves the whole sweep, and a free
    worker takes the first ready config, so no core waits for a whole stage to end."""

    def __init__(self, workers: int):
        self.workers = workers

    def map(self, fn, configs, ready=_always, deadline=None, **kwargs):
        import multiprocessing as mp

        pending = list(configs)
        workers = min(self.workers, len(pending))  # a lone run gets every core
        if workers == 0:
            return
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                 initializer=_set_threads, initargs=(threads,)) as pool:
            yield from run_when_ready(pending, ready, deadline, slots=lambda: workers,
                                      start=lambda c: pool.submit(fn, c, **kwargs, progress=False),
                                      wait=_first_finished)


def _first_finished(futures: list) -> tuple[Any, Any]:
    fut = next(as_completed(futures))
    try:
        return fut, fut.result()
    except Exception as e:
        return fut, e


def run_when_ready(configs: list[dict], ready: Callable[[dict], bool], deadline: float | None,
                   slots: Callable[[], int], start: Callable[[dict], Any],
                   wait: Callable[[list], tuple[Any, Any]], patience_s: float = 0.0) -> Iterator[tuple[dict, Any]]:
    """The scheduling the parallel executors share. While fewer than ``slots()`` runs are in
    flight, the first ready config is started (``start(config)`` returns a handle);
    ``wait(handles)`` blocks until one finishes and returns it with its record or exception.
    Configs left when nothing runs any more can never become ready; once ``patience_s`` has
    passed, that is (a shared filesystem can show a file another machine wrote late)."""
    pending = list(configs)
    running: dict = {}

    def fill() -> None:
        while len(running) < slots() and pending and not _past(deadline):
            c = next((c for c in pending if ready(c)), None)
            if c is None:
                return
            pending.remove(c)
            running[start(c)] = c

    fill()
    while running:
        handle, out = wait(list(running))
        yield running.pop(handle), out
        fill()
        give_up = time.monotonic() + patience_s
        while not running and pending and time.monotonic() < give_up and not _past(deadline):
            time.sleep(min(1.0, patience_s / 10))
            fill()
    if not _past(deadline):
        for c in pending:  # nothing runs that could make these ready
            yield c, _blocked(c)


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def make_executor(workers: int) -> Executor:
    return SequentialExecutor() if workers <= 1 else ProcessPoolExecutorAdapter(workers)


@dataclass
class Study:
    source: str
    target: str
    profile: dict[str, Any]
    results: Path
    data_dir: str | None = None

    @classmethod
    def from_names(cls, source: str, target: str, profile: str, results: str | Path = "results",
                   data_dir: str | None = None) -> "Study":
        if source == target:
            raise InputError(f"source and target are both {source!r}; a transfer study needs two distributions.")
        return cls(source, target, load_profile(profile), Path(results), data_dir)

    def configs(self) -> list[dict[str, Any]]:
        return plan(self.source, self.target, self.profile, DataStore(self.data_dir))

    def status(self) -> dict[str, list[dict]]:
        done, missing = [], []
        for c in self.configs():
            (done if record_path(self.results, run_id(c)).exists() else missing).append(c)
        return {"done": done, "missing": missing}

    def sweep(self, workers: int = 1, limit_s: float | None = None, device: str | None = None,
              log: Callable[[str], None] = print, executor: Executor | None = None) -> dict[str, int]:
        """Run every missing run, on ``executor`` (default: ``make_executor(workers)``)."""
        st = self.status()
        skipped = len(st["done"])
        t0 = time.monotonic()
        done = failed = 0
        log(f"study {self.source} -> {self.target} ({self.profile['name']}): {skipped} runs already done, "
            f"{len(st['missing'])} to run")
        jobs = schedule(st["missing"], self.results)
        restoring = {run_id(c) for c in jobs} - {run_id(c) for c in st["missing"]}
        if restoring:
            log(f"  {len(restoring)} recorded pretrain runs have no checkpoint here (checkpoints are not "
                f"committed); they are trained again for their fine-tunes, and their records are kept")

        def ready(c: dict) -> bool:
            return c["kind"] != "finetune" or finetune_checkpoint(self.results, c).exists()

        deadline = t0 + limit_s if limit_s is not None else None
        executor = executor or make_executor(workers)
        for c, out in executor.map(execute_run, jobs, ready=ready, deadline=deadline,
                                   results=self.results, data_dir=self.data_dir, device=device):
            if isinstance(out, Exception):
                failed += 1
                log(f"  FAILED {c['kind']} N~{c['n_target']:,} D={c['tokens']:,}: {out}")
            elif run_id(c) in restoring:
                log(f"  checkpoint restored for pretrain N={out['result']['n_params']:,} D={c['tokens']:,}")
            else:
                done += 1
                log(f"  done {describe_run(out)} ({out['provenance']['wall_s']:.0f}s, "
                    f"{out['provenance']['tokens_per_s']:,.0f} tok/s)")
        remaining = len(self.status()["missing"])
        log(f"summary: {done} run now, {skipped} skipped (already done), {failed} failed, {remaining} remain"
            + ("; rerun the same command to continue" if remaining else ""))
        return {"done": done, "skipped": skipped, "failed": failed, "remaining": remaining}


STAGES = ("pretrain", "scratch", "finetune")


def describe_run(record: dict) -> str:
    """One line for a finished run: what it was and what it measured."""
    c, r = record["config"], record["result"]
    head = f"{c['kind']:<8} N={r['n_params']:>9,} seed={c['seed']} "
    if c["kind"] == "pretrain":
        return head + f"p={c['tokens']:>10,} source loss " + ", ".join(
            f"{int(p):,}: {v['val_loss']:.3f}" for p, v in r["checkpoints"].items())
    p = f" p={c['pretrain_tokens']:,}" if c["kind"] == "finetune" else ""
    return head + f"D={c['tokens']:>9,}{p} loss={r['loss']:.4f} ({r['stopped']} at step {r['best_step']:,})"


def schedule(missing: list[dict], results: Path) -> list[dict]:
    """The order a sweep starts runs in: seed by seed (a sweep stopped part-way leaves
    whole seeds, every size of them, which the fits can already use), within a seed the
    smallest model first, and within a size pre-training, then from scratch, then
    fine-tuning, cheapest first.
    A recorded pretrain run whose checkpoint is missing (checkpoints are not committed)
    is queued once, ahead of the fine-tunes that need it, to recreate its weights."""
    jobs = list(missing)
    queued = {run_id(c) for c in missing}
    for c in missing:
        if c["kind"] == "finetune" and c["pretrain_id"] not in queued \
                and not finetune_checkpoint(results, c).exists():
            jobs.append(c["pretrain"])
            queued.add(c["pretrain_id"])
    return sorted(jobs, key=lambda c: (c["seed"], c["n_target"], STAGES.index(c["kind"]), _cost(c)))
