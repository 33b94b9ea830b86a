"""The training loop: one function, read in one sitting.

AdamW, linear warm-up then cosine decay to ``min_lr_ratio``, gradient clipping,
evaluation on a fixed validation set at log-spaced and then regular steps, and
early stopping at the best validation loss. A dataset of D tokens is sampled with
replacement in windows of ``n_ctx + 1`` tokens, so a small D is seen for many
epochs, as in the papers (each run is early-stopped on held-out loss).

The loop records the whole curve (tokens seen, training FLOPs, validation loss)
and reports tokens/s and model-FLOPs utilisation (MFU) against ``peak_flops``.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .fused_loss import lm_loss


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    batch_size: int = 32
    max_tokens: int = 20_000_000  # cap on tokens processed (all epochs)
    max_epochs: float = 100.0  # cap relative to D
    min_tokens: int = 0  # floor of the schedule length: a small D still gets enough steps to converge
    eval_tokens: int = 65_536  # size of the fixed validation set
    eval_interval: int = 200  # regular evaluation every this many steps ...
    eval_growth: float = 1.3  # ... and log-spaced before that
    patience: int = 4  # evaluations without improvement before stopping
    compile: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    best_loss: float
    best_step: int
    best_tokens: int
    steps: int
    tokens: int
    stopped: str  # early_stop | max_tokens
    curve: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    tokens_per_s: float = 0.0
    mfu: float | None = None
    best_state: dict[str, torch.Tensor] | None = None


def windows(data: torch.Tensor, n_ctx: int) -> torch.Tensor:
    """Non-overlapping (n_ctx + 1)-token windows covering ``data``."""
    n = (len(data) - 1) // n_ctx
    idx = torch.arange(n)[:, None] * n_ctx + torch.arange(n_ctx + 1)[None, :]
    return data[idx]


@torch.no_grad()
def evaluate(model, val: torch.Tensor, device: str, batch_size: int = 64, fused: bool = False) -> float:
    """Mean next-token cross-entropy (nats/token) over the fixed validation windows."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(val), batch_size):
        w = val[i:i + batch_size].to(device, non_blocking=True)
        total += next_token_loss(model, w, device, fused).item() * w[:, 1:].numel()
        count += w[:, 1:].numel()
    model.train(was_training)
    return total / count


def next_token_loss(model, w: torch.Tensor, device: str, fused: bool) -> torch.Tensor:
    """Mean next-token cross-entropy of ``model`` over windows ``w`` of n_ctx + 1 tokens.

    ``fused``: the output layer and its softmax run fused and in cached chunks
    (``fused_loss``); on CPU, at our sizes, they are most of the step. Otherwise the
    model's own logits, under bf16 autocast on CUDA."""
    if fused:
        return lm_loss(model, w)
    with _autocast(device):
        logits = model(input_ids=w[:, :-1]).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1))


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _autocast(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lr_at(step: int, total_steps: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model, cfg: TrainConfig, device: str) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs: dict[str, Any] = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2)}
    kwargs["fused"] = True  # one kernel over all parameters, on CPU as on CUDA
    return torch.optim.AdamW(groups, **kwargs)


def train(
    model,
    train_tokens: np.ndarray,
    val_tokens: np.ndarray,
    cfg: TrainConfig,
    n_ctx: int,
    flops_per_token: float,
    seed: int,
    device: str = "cpu",
    peak_flops: float | None = None,
    desc: str = "train",
    progress: bool = True,
) -> TrainResult:
    D = len(train_tokens)
    if D < n_ctx + 1:
        raise ValueError(f"a dataset of {D} tokens is shorter than one context window ({n_ctx + 1})")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(np.asarray(train_tokens, dtype=np.int64))
    val = windows(torch.from_numpy(np.asarray(val_tokens[: cfg.eval_tokens + 1], dtype=np.int64)), n_ctx)
    if device.startswith("cuda"):
        data, val = data.to(device), val.to(device)
    model.to(device).train()
    fwd = torch.compile(model) if cfg.compile else model
    fused = device == "cpu" and not cfg.compile
    opt = make_optimizer(model, cfg, device)

    tokens_per_step = cfg.batch_size * n_ctx
    total_tokens = int(min(cfg.max_tokens, max(cfg.max_epochs * D, cfg.min_tokens, tokens_per_step)))
    total_steps = max(1, total_tokens // tokens_per_step)
    offsets_arange = torch.arange(n_ctx + 1, device=data.device)

    curve: list[dict[str, float]] = []
    best = (float("inf"), 0, 0)
    best_state: dict[str, torch.Tensor] | None = None
    since_best, next_eval, stopped = 0, 0, "max_tokens"
    t0 = time.perf_counter()
    # Training time is summed between evaluations, with the device synchronised at each
    # boundary, so that tokens/s is right on CUDA too, where steps run asynchronously.
    train_time, segment_start = 0.0, None
    loss_acc, loss_n = 0.0, 0
    bar = tqdm(total=total_tokens, desc=desc, unit="tok", unit_scale=True, leave=False, disable=not progress)
    step = 0
    while True:
        if step >= next_eval or step == total_steps:
            if segment_start is not None:
                _synchronize(device)
                train_time += time.perf_counter() - segment_start
            v = evaluate(fwd, val, device, fused=fused)
            tokens = step * tokens_per_step
            curve.append({"step": step, "tokens": tokens, "flops": tokens * flops_per_token,
                          "val_loss": v, "train_loss": float(loss_acc) / loss_n if loss_n else float("nan"),
                          "elapsed_s": time.perf_counter() - t0})
            loss_acc, loss_n = 0.0, 0
            if v < best[0] - 1e-4:
                best, since_best = (v, step, tokens), 0
                best_state = {k: t.detach().to("cpu", copy=True) for k, t in model.state_dict().items()}
            else:
                since_best += 1
            bar.set_postfix(val=f"{v:.4f}", best=f"{best[0]:.4f}")
            next_eval = min(step + cfg.eval_interval, max(step + 1, int(math.ceil(step * cfg.eval_growth))))
            if since_best >= cfg.patience and step > 2 * cfg.warmup_steps:
                stopped = "early_stop"
                break
            if step >= total_steps:
                break
            segment_start = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total_steps, cfg)
        starts = torch.randint(0, D - n_ctx, (cfg.batch_size,), generator=gen).to(data.device)
        w = data[starts[:, None] + offsets_arange]
        loss = next_token_loss(fwd, w, device, fused)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        loss_acc = loss_acc + loss.detach()  # no host sync in the step
        loss_n += 1
        step += 1
        bar.update(tokens_per_step)
    bar.close()
    wall = time.perf_counter() - t0
    trained = step * tokens_per_step
    tps = trained / train_time if train_time > 0 else 0.0
    return TrainResult(
        best_loss=best[0], best_step=best[1], best_tokens=best[2], steps=step, tokens=trained,
        stopped=stopped, curve=curve, wall_s=wall, tokens_per_s=tps,
        mfu=(tps * flops_per_token / peak_flops) if peak_flops else None, best_state=best_state,
    )
