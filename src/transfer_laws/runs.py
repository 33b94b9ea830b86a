"""Execute one run (pretrain, scratch or finetune) from its config and record it.

A config is plain data (see ``study.plan``); the run's id is the hash of it. The
record is written only when the run has finished, atomically, so a killed run
leaves nothing behind but, at most, a temporary file.

A pre-training run makes one checkpoint per p in its ``checkpoints`` list (cooldown
branches of one run, ``train.pretrain``); a fine-tune names its pretrain run and the p it
starts from (``pretrain_tokens``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write_bytes
from .data import DataStore
from .model import ModelShape, build_model, count_non_embedding, flops_per_token, kaplan_flops_per_token
from .records import git_commit, load_record, provenance, record_path, run_id, write_record
from .subsets import seed_subset
from .train import TrainConfig, as_windows, evaluate, pretrain, train

git_commit()  # read when the process starts, i.e. before any run of it


def checkpoint_path(results: Path, pretrain_rid: str, p: int) -> Path:
    return Path(results) / "checkpoints" / f"{pretrain_rid}-p{p}.pt"


def finetune_checkpoint(results: Path, cfg: dict[str, Any]) -> Path:
    """The checkpoint a fine-tune starts from."""
    return checkpoint_path(results, cfg["pretrain_id"], cfg["pretrain_tokens"])


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _init_model(cfg: dict[str, Any]):
    torch.manual_seed(cfg["seed"])
    return build_model(ModelShape(**cfg["shape"]))


def _save_checkpoint(path: Path, state: dict[str, torch.Tensor]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def ensure_checkpoints(pretrain_cfg: dict[str, Any], results: Path, data_dir: str | None, device: str) -> None:
    """The checkpoints of a pretrain run. Checkpoints are not committed: on a fresh clone
    a finished pretrain run is trained again (same seed, same data) to recreate them, and
    its record is left as it was."""
    rid = run_id(pretrain_cfg)
    if not all(checkpoint_path(results, rid, p).exists() for p in pretrain_cfg["checkpoints"]):
        _train_and_record(pretrain_cfg, results, data_dir, device, write=not record_path(results, rid).exists())


def execute_run(cfg: dict[str, Any], results: str | Path, data_dir: str | None = None,
                device: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Train and record one run. A run already recorded is never rewritten: its record is
    returned, and for a pretrain run its checkpoints are recreated if they are missing."""
    device = device or default_device()
    results = Path(results)
    path = record_path(results, run_id(cfg))
    if path.exists():
        if cfg["kind"] == "pretrain":
            ensure_checkpoints(cfg, results, data_dir, device)
        return load_record(path)
    return _train_and_record(cfg, results, data_dir, device, write=True, progress=progress)


def _doc_starts(ds: DataStore, dist: str, split: str) -> np.ndarray:
    return np.fromfile(ds.index_path(dist, split), dtype=np.uint64).astype(np.int64)


def run_tokens(ds: DataStore, dist: str, n_tokens: int, seed: int) -> np.ndarray:
    """The training tokens of a run: its seed's subset of the train split (``subsets``)."""
    return seed_subset(ds.tokens(dist, "train"), _doc_starts(ds, dist, "train"), n_tokens, seed)


def _train_and_record(cfg: dict[str, Any], results: Path, data_dir: str | None, device: str,
                      write: bool, progress: bool = True) -> dict[str, Any]:
    ds = DataStore(data_dir)
    kind = cfg["kind"]
    rid = run_id(cfg)
    model = _init_model(cfg)
    if kind == "finetune":
        if not finetune_checkpoint(results, cfg).exists():
            ensure_checkpoints(cfg["pretrain"], results, data_dir, device)
        model.load_state_dict(torch.load(finetune_checkpoint(results, cfg), map_location="cpu", weights_only=True))
    shape = ModelShape(**cfg["shape"])
    n_params = count_non_embedding(model)
    dist = cfg["source"] if kind == "pretrain" else cfg["target"]
    tc = TrainConfig(**cfg["train"])
    val = ds.tokens(dist, "validation")
    if tc.stop_tokens + 1 > len(val):
        tc = TrainConfig(**{**cfg["train"], "stop_tokens": len(val) - 1})
    threads = os.environ.get("TRANSFER_LAWS_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    fpt = flops_per_token(n_params, shape)
    desc = f"{kind} N={n_params:,} D={cfg['tokens']:,} seed={cfg['seed']}"
    common = {"n_params": n_params, "flops_per_token": fpt, "kaplan_flops_per_token": kaplan_flops_per_token(n_params, shape)}
    if kind == "pretrain":
        res = pretrain(model, run_tokens(ds, dist, cfg["tokens"], cfg["seed"]), val, cfg["checkpoints"], tc,
                       shape.n_ctx, fpt, cfg["seed"], device=device, desc=desc, progress=progress)
        for p, state in res.checkpoints.items():
            _save_checkpoint(checkpoint_path(results, rid, p), state)
        result = {"checkpoints": {str(p): {"val_loss": v} for p, v in res.val_loss.items()},
                  "steps": res.steps, "tokens_trained": res.tokens, "flops_trained": res.tokens * fpt, **common}
    else:
        test = ds.tokens(dist, "test")
        if tc.test_tokens + 1 > len(test):
            tc = TrainConfig(**{**tc.to_dict(), "test_tokens": len(test) - 1})
        res = train(model, run_tokens(ds, dist, cfg["tokens"], cfg["seed"]), val, test, _doc_starts(ds, dist, "test"),
                    tc, shape.n_ctx, fpt, cfg["seed"], device=device, desc=desc, progress=progress)
        result = {"loss": res.loss, "stop_loss": res.stop_loss, "stopped": res.stopped,
                  "best_step": res.best_step, "best_phase": res.best_phase, "initial_loss": res.curve[0]["val_loss"],
                  "steps": res.steps, "tokens_trained": res.tokens, "flops_trained": res.tokens * fpt,
                  "stop_tokens": tc.stop_tokens, "test_tokens": tc.test_tokens,
                  "test_documents": {"nll": res.doc_nll, "tokens": res.doc_tokens}, **common}
    record = {"run_id": rid, "config": cfg, "result": result, "curve": res.curve,
              "provenance": provenance(device, cfg["seed"], res.wall_s, res.tokens_per_s)}
    if write:
        write_record(results, record)
    return record


@torch.no_grad()
def loss_of_checkpoint(ckpt: Path, cfg: dict[str, Any], dist: str, data_dir: str | None = None,
                       eval_tokens: int = 16_384) -> float:
    """Validation loss of a saved checkpoint on a distribution (used to check that a
    fine-tuned run really starts from the pre-trained weights)."""
    ds = DataStore(data_dir)
    model = _init_model(cfg)
    model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    shape = ModelShape(**cfg["shape"])
    return evaluate(model, as_windows(ds.tokens(dist, "validation"), eval_tokens, shape.n_ctx), "cpu")
