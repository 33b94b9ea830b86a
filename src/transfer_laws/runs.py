"""Execute one run (pretrain, scratch or finetune) from its config and record it.

A config is plain data (see ``study.plan``); the run's id is the hash of it. The
record is written only when the run has finished, atomically, so a killed run
leaves nothing behind but, at most, a temporary file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write_bytes
from .data import DataStore
from .model import ModelShape, build_model, count_non_embedding, flops_per_token
from .records import git_commit, load_record, provenance, record_path, run_id, write_record
from .train import TrainConfig, evaluate, train, windows


git_commit()  # read when the process starts, i.e. before any run of it


def checkpoint_path(results: Path, rid: str) -> Path:
    return Path(results) / "checkpoints" / f"{rid}.pt"


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _init_model(cfg: dict[str, Any]):
    torch.manual_seed(cfg["seed"])
    return build_model(ModelShape(**cfg["shape"]))


def _save_checkpoint(path: Path, state: dict[str, torch.Tensor]) -> None:
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def ensure_checkpoint(pretrain_cfg: dict[str, Any], results: Path, data_dir: str | None, device: str) -> Path:
    """The checkpoint of a pretrain run. Checkpoints are not committed: on a fresh
    clone a finished pretrain run is trained again (same seed, same data) to recreate
    its weights, and its record is left as it was."""
    rid = run_id(pretrain_cfg)
    path = checkpoint_path(results, rid)
    if not path.exists():
        _train_and_record(pretrain_cfg, results, data_dir, device, write=not record_path(results, rid).exists())
    return path


def execute_run(cfg: dict[str, Any], results: str | Path, data_dir: str | None = None,
                device: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Train and record one run. A run already recorded is never rewritten: its record is
    returned, and for a pretrain run its checkpoint is recreated if it is missing."""
    device = device or default_device()
    results = Path(results)
    path = record_path(results, run_id(cfg))
    if path.exists():
        if cfg["kind"] == "pretrain":
            ensure_checkpoint(cfg, results, data_dir, device)
        return load_record(path)
    return _train_and_record(cfg, results, data_dir, device, write=True, progress=progress)


def _train_and_record(cfg: dict[str, Any], results: Path, data_dir: str | None, device: str,
                      write: bool, progress: bool = True) -> dict[str, Any]:
    ds = DataStore(data_dir)
    kind = cfg["kind"]
    rid = run_id(cfg)
    model = _init_model(cfg)
    if kind == "finetune":
        ckpt = ensure_checkpoint(cfg["pretrain"], results, data_dir, device)
        model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    shape = ModelShape(**cfg["shape"])
    n_params = count_non_embedding(model)
    dist = cfg["source"] if kind == "pretrain" else cfg["target"]
    train_tokens = ds.tokens(dist, "train", cfg["tokens"])
    val_tokens = ds.tokens(dist, "validation")
    tc = TrainConfig(**cfg["train"])
    if tc.eval_tokens + 1 > len(val_tokens):
        tc = TrainConfig(**{**cfg["train"], "eval_tokens": len(val_tokens) - 1})
    threads = os.environ.get("TRANSFER_LAWS_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    fpt = flops_per_token(n_params, shape)
    res = train(model, train_tokens, val_tokens, tc, shape.n_ctx, fpt, cfg["seed"], device=device,
                desc=f"{kind} N={n_params:,} D={cfg['tokens']:,}", progress=progress)
    if kind == "pretrain":
        _save_checkpoint(checkpoint_path(results, rid), res.best_state)
    record = {
        "run_id": rid,
        "config": cfg,
        "result": {
            "best_loss": res.best_loss, "best_step": res.best_step, "best_tokens": res.best_tokens,
            "initial_loss": res.curve[0]["val_loss"], "steps": res.steps, "tokens_trained": res.tokens,
            "flops_trained": res.tokens * fpt, "flops_per_token": fpt, "n_params": n_params,
            "stopped": res.stopped, "eval_tokens": tc.eval_tokens,
        },
        "curve": res.curve,
        "provenance": provenance(device, cfg["seed"], res.wall_s, res.tokens_per_s),
    }
    if write:
        write_record(results, record)
    return record


@torch.no_grad()
def loss_of_checkpoint(ckpt: Path, cfg: dict[str, Any], dist: str, data_dir: str | None = None,
                       eval_tokens: int = 65_536) -> float:
    """Validation loss of a saved checkpoint on a distribution (used to check that a
    fine-tuned run really starts from the pre-trained weights)."""
    ds = DataStore(data_dir)
    model = _init_model(cfg)
    model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    shape = ModelShape(**cfg["shape"])
    val = ds.tokens(dist, "validation")
    import numpy as np

    w = windows(torch.from_numpy(np.asarray(val[: eval_tokens + 1], dtype=np.int64)), shape.n_ctx)
    return evaluate(model, w, "cpu")
