"""The training loop: one schedule rule for every run, read in one sitting.

Every from-scratch and fine-tuning run follows the same rule, whatever its data size D:

1. **warm-up**: linear warm-up to the peak learning rate over ``warmup_steps`` steps, the
   same at every D. Evaluation starts after one epoch of the D tokens or at the end of
   warm-up, whichever comes first, so that a small-D run whose best point lies inside
   warm-up has it found and kept; no run stops before its warm-up is over, so every run
   reaches its peak LR;
2. **stable**: constant peak LR, the loss on a small *stopping set* (a prefix of the
   validation split) evaluated at log-spaced steps (×``eval_growth``,
   so patience is the same share of a run at every length), and early stopping once
   ``patience`` evaluations in a row failed to improve on the best by ``min_delta``, but
   never before ``MIN_EPOCHS_BEFORE_STOP`` epochs of the D tokens. A rise of the
   stopping-set loss that early is usually an optimisation transient (the bump just after
   warm-up) rather than overfitting, and a run stopped in it would report an unconverged
   loss as a measurement; where it is overfitting (a fine-tune can peak in its second
   epoch), the rule only defers the stop: the best checkpoint is still the one kept.
   ``max_tokens`` is a safety net only: a run that reaches it is recorded as
   ``stopped = "budget"`` (censored, not converged);
3. **cooldown** from the best checkpoint (weights and optimizer state): the LR decays
   linearly towards zero over ``cooldown_fraction`` of the steps that checkpoint had taken,
   at least 4 (Hägele et al. 2024's warmup-stable-decay rule), evaluated at the end of each
   quarter; the checkpoint with the lowest stopping-set loss, stable or cooldown, is kept;
4. **final loss**: measured once, on the ``test`` split, which no decision saw; the
   per-document losses are returned too, so fits can resample documents.

Why this rule: a cosine schedule has to know the run's length in advance, and an
early-stopped run's length is its outcome. Runs that stop at peak LR and runs that are fully
annealed are not comparable (the first ``cpu`` study switched between the two inside its
grid). Here every loss is "annealed from its own best point", at every D, scratch or
fine-tune.

Pre-training (``pretrain``) is the same rule without early stopping: the stable phase runs
through one pass over p tokens, and a cooldown branch at each requested p
(``checkpoints``) gives a checkpoint annealed the same way at every p: one run yields the
whole p grid of the transfer-gap study, and p is not confounded with a schedule. There the
cooldown is the last ``cooldown_fraction`` (at least 4 steps) *of* the p tokens, so that
checkpoint p has seen p tokens; a from-scratch or fine-tuning run's cooldown comes *after*
its best point, whose place is not known in advance.

A dataset of D tokens is sampled with replacement in windows of ``n_ctx + 1`` tokens,
so a small D is seen for many epochs, as in the papers.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .fused_loss import lm_loss


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 3e-3
    warmup_steps: int = 10
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    batch_size: int = 32
    max_tokens: int = 20_000_000  # safety net on tokens processed in the stable phase
    stop_tokens: int = 16_384  # size of the stopping set (a prefix of the validation split)
    eval_interval: int = 2000  # at most this many steps between evaluations ...
    eval_growth: float = 1.15  # ... which are log-spaced (×eval_growth) from the end of warm-up
    patience: int = 4  # evaluations without improvement before stopping
    min_delta: float = 1e-3  # an improvement smaller than this (nats) does not count
    cooldown_fraction: float = 0.2  # cooldown steps as a share of the best checkpoint's steps
    test_tokens: int = 65_536  # the final, once-only evaluation on the test split
    compile: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    loss: float  # test loss of the kept checkpoint, measured once
    stop_loss: float  # its stopping-set loss
    best_step: int  # steps that checkpoint had taken (stable + cooldown)
    best_phase: str  # warmup | stable | cooldown
    steps: int  # all optimizer steps taken
    tokens: int
    stopped: str  # early_stop | budget
    curve: list[dict[str, float]] = field(default_factory=list)
    doc_nll: list[float] = field(default_factory=list)  # summed test nll per document
    doc_tokens: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    tokens_per_s: float = 0.0
    mfu: float | None = None


@dataclass
class PretrainResult:
    checkpoints: dict[int, dict[str, torch.Tensor]]  # p -> weights after its cooldown
    val_loss: dict[int, float]  # p -> source stopping-set loss of that checkpoint
    steps: int
    tokens: int
    curve: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    tokens_per_s: float = 0.0
    mfu: float | None = None


# --- schedule ---------------------------------------------------------------------------
MIN_COOLDOWN = 4
# Two epochs: one english -> tech-english run (N = 234k, D = 131k) stopped at 0.84 epochs in
# the loss bump after warm-up, 1.2 nats above its neighbours; every other v2 run of the first
# four studies stopped at 2.5 epochs or later, so the rule leaves them as they were.
MIN_EPOCHS_BEFORE_STOP = 2


def first_eval(n_tokens: int, n_ctx: int, cfg: TrainConfig) -> int:
    """The first evaluated step of a run on ``n_tokens`` tokens: the end of warm-up, or one
    epoch if that comes first (at least one step)."""
    return max(1, min(cfg.warmup_steps, math.ceil(n_tokens / (cfg.batch_size * n_ctx))))


def warmup_lr(step: int, warmup: int, cfg: TrainConfig) -> float:
    """Linear warm-up to the peak over ``warmup`` steps, then constant."""
    return cfg.lr * min(1.0, (step + 1) / warmup)


def cooldown_lr(i: int, n: int, cfg: TrainConfig) -> float:
    """Step ``i`` of an ``n``-step linear decay from the peak: peak/n at the last step, so
    that every step of a cooldown still learns."""
    return cfg.lr * (1 - i / n)


def cooldown_steps(steps: int, cfg: TrainConfig) -> int:
    """Cooldown length for a checkpoint that has taken ``steps`` steps."""
    return max(MIN_COOLDOWN, int(round(cfg.cooldown_fraction * steps)))


def next_eval(step: int, first: int, cfg: TrainConfig) -> int:
    """The step of the evaluation after one at ``step``: the first at ``first``, then
    ×``eval_growth`` apart (at least one step, at most ``eval_interval``)."""
    if step < first:
        return first
    return min(step + cfg.eval_interval, max(step + 1, int(math.ceil(step * cfg.eval_growth))))


class EarlyStopping:
    """Tracks the stopping-set loss. ``update`` says whether an evaluation is the lowest so
    far (the checkpoint to keep); ``stop`` holds once ``patience`` evaluations in a row
    failed to improve by ``min_delta`` on the last one that did."""

    def __init__(self, patience: int, min_delta: float):
        self.patience, self.min_delta = patience, min_delta
        self.best = self.reference = float("inf")
        self.since_improvement = 0

    def update(self, loss: float) -> bool:
        if loss < self.reference - self.min_delta:
            self.reference, self.since_improvement = loss, 0
        else:
            self.since_improvement += 1
        if loss < self.best:
            self.best = loss
            return True
        return False

    @property
    def stop(self) -> bool:
        return self.since_improvement >= self.patience


def pretrain_steps(p: int, n_ctx: int, cfg: TrainConfig) -> int:
    """Steps of the pre-training checkpoint at p: one pass over the windows of p tokens."""
    return max(1, ((p - 1) // n_ctx) // cfg.batch_size)


def branch_step(steps: int, cfg: TrainConfig) -> int:
    """The trunk step a checkpoint's cooldown branch leaves from."""
    return steps - cooldown_steps(steps, cfg)


def min_stop_step(n_tokens: int, n_ctx: int, cfg: TrainConfig) -> int:
    """No early stop before this step: the end of warm-up, and ``MIN_EPOCHS_BEFORE_STOP``
    epochs of the run's ``n_tokens`` tokens. Set by the design (D, batch), not the outcome."""
    return max(cfg.warmup_steps, math.ceil(MIN_EPOCHS_BEFORE_STOP * n_tokens / (cfg.batch_size * n_ctx)))


def earliest_stop(first: int, cfg: TrainConfig, min_step: int | None = None) -> int:
    """The first step at which a run can stop early: the first evaluation sets the best,
    then ``patience`` evaluations without improvement, and never before ``min_step``
    (``min_stop_step``; the end of warm-up when not given)."""
    min_step = cfg.warmup_steps if min_step is None else min_step
    step = next_eval(0, first, cfg)
    for _ in range(cfg.patience):
        step = next_eval(step, first, cfg)
    while step < min_step:
        step = next_eval(step, first, cfg)
    return step


def budget_steps(cfg: TrainConfig, n_ctx: int) -> int:
    """The safety net: steps of the stable phase a run may take before it counts as censored."""
    return max(cfg.warmup_steps + 1, cfg.max_tokens // (cfg.batch_size * n_ctx))


# --- pieces -----------------------------------------------------------------------------
def windows(data: torch.Tensor, n_ctx: int) -> torch.Tensor:
    """Non-overlapping (n_ctx + 1)-token windows covering ``data`` (each shares one token
    with the next, so every token after the first is predicted exactly once)."""
    n = (len(data) - 1) // n_ctx
    idx = torch.arange(n)[:, None] * n_ctx + torch.arange(n_ctx + 1)[None, :]
    return data[idx]


def as_windows(tokens: np.ndarray, n_tokens: int, n_ctx: int) -> torch.Tensor:
    return windows(torch.from_numpy(np.asarray(tokens[: n_tokens + 1], dtype=np.int64)), n_ctx)


@torch.no_grad()
def evaluate(model, val: torch.Tensor, device: str, batch_size: int = 64, fused: bool = False) -> float:
    """Mean next-token cross-entropy (nats/token) over the fixed windows ``val``."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(val), batch_size):
        w = val[i:i + batch_size].to(device, non_blocking=True)
        total += next_token_loss(model, w, device, fused).item() * w[:, 1:].numel()
        count += w[:, 1:].numel()
    model.train(was_training)
    return total / count


@torch.no_grad()
def token_losses(model, val: torch.Tensor, device: str, batch_size: int = 64) -> np.ndarray:
    """Next-token cross-entropy of every predicted token of ``val`` (window-major order)."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(val), batch_size):
        w = val[i:i + batch_size].to(device, non_blocking=True)
        with _autocast(device):
            logits = model(input_ids=w[:, :-1], use_cache=False).logits
        out.append(F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1),
                                   reduction="none").cpu())
    model.train(was_training)
    return torch.cat(out).double().numpy()


def per_document(losses: np.ndarray, doc_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the losses of tokens 1..len(losses) of a split by the document they belong to
    (``doc_starts``: each document's first token). Returns (nll sums, token counts) for the
    documents the evaluation touched."""
    positions = np.arange(1, len(losses) + 1)
    doc = np.searchsorted(np.asarray(doc_starts, dtype=np.int64), positions, side="right") - 1
    n_docs = int(doc.max()) + 1
    return np.bincount(doc, weights=losses, minlength=n_docs), np.bincount(doc, minlength=n_docs)


def next_token_loss(model, w: torch.Tensor, device: str, fused: bool) -> torch.Tensor:
    """Mean next-token cross-entropy of ``model`` over windows ``w`` of n_ctx + 1 tokens.

    ``fused``: the output layer and its softmax run fused and in cached chunks
    (``fused_loss``); on CPU, at our sizes, they are much of the step. Otherwise the
    model's own logits, under bf16 autocast on CUDA."""
    if fused:
        return lm_loss(model, w)
    with _autocast(device):
        logits = model(input_ids=w[:, :-1], use_cache=False).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1))


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _autocast(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(model, cfg: TrainConfig, device: str) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs: dict[str, Any] = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2)}
    kwargs["fused"] = True  # one kernel over all parameters, on CPU as on CUDA
    return torch.optim.AdamW(groups, **kwargs)


def _snapshot(model, opt=None) -> dict[str, Any]:
    snap = {"model": {k: t.detach().to("cpu", copy=True) for k, t in model.state_dict().items()}}
    if opt is not None:
        snap["opt"] = copy.deepcopy(opt.state_dict())
    return snap


class Stepper:
    """The optimizer step on batches of windows drawn from one token stream, with its clock:
    training time is summed between evaluations, the device synchronised at each boundary,
    so that tokens/s is right on CUDA too, where steps run asynchronously."""

    def __init__(self, model, cfg: TrainConfig, n_ctx: int, device: str, draw: Callable[[], torch.Tensor]):
        self.model, self.cfg, self.device, self.draw = model, cfg, device, draw
        self.fwd = torch.compile(model) if cfg.compile else model
        self.fused = device == "cpu" and not cfg.compile
        self.opt = make_optimizer(model, cfg, device)
        self.steps, self.tokens_per_step = 0, cfg.batch_size * n_ctx
        self.train_time, self._since = 0.0, None
        self.loss_sum, self.loss_n = 0.0, 0

    def step(self, lr: float) -> None:
        if self._since is None:
            self._since = time.perf_counter()
        for g in self.opt.param_groups:
            g["lr"] = lr
        loss = next_token_loss(self.fwd, self.draw(), self.device, self.fused)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.loss_sum = self.loss_sum + loss.detach()  # no host sync in the step
        self.loss_n += 1
        self.steps += 1

    def pause(self) -> float:
        """Stop the clock (before an evaluation); return the mean training loss since the last pause."""
        if self._since is not None:
            _synchronize(self.device)
            self.train_time += time.perf_counter() - self._since
            self._since = None
        mean = float(self.loss_sum) / self.loss_n if self.loss_n else float("nan")
        self.loss_sum, self.loss_n = 0.0, 0
        return mean

    def evaluate(self, val: torch.Tensor) -> float:
        return evaluate(self.fwd, val, self.device, fused=self.fused)

    def restore(self, snap: dict[str, Any]) -> None:
        self.model.load_state_dict(snap["model"])
        if "opt" in snap:
            self.opt.load_state_dict(snap["opt"])

    @property
    def tokens(self) -> int:
        return self.steps * self.tokens_per_step


def _sampler(train_tokens: np.ndarray, cfg: TrainConfig, n_ctx: int, seed: int, device: str):
    """Batches of windows drawn uniformly, with replacement, from the D tokens."""
    data = torch.from_numpy(np.asarray(train_tokens, dtype=np.int64))
    if device.startswith("cuda"):
        data = data.to(device)
    gen = torch.Generator().manual_seed(seed)
    offsets = torch.arange(n_ctx + 1, device=data.device)
    D = len(data)

    def draw() -> torch.Tensor:
        starts = torch.randint(0, D - n_ctx, (cfg.batch_size,), generator=gen).to(data.device)
        return data[starts[:, None] + offsets]

    return draw


def train(
    model,
    train_tokens: np.ndarray,
    stop_tokens: np.ndarray,
    test_tokens: np.ndarray,
    test_doc_starts: np.ndarray,
    cfg: TrainConfig,
    n_ctx: int,
    flops_per_token: float,
    seed: int,
    device: str = "cpu",
    peak_flops: float | None = None,
    desc: str = "train",
    progress: bool = True,
) -> TrainResult:
    """Train one from-scratch or fine-tuning run by the schedule rule above; return its
    test loss (per document too) and its curve. ``model`` ends with the kept weights."""
    D = len(train_tokens)
    if D < n_ctx + 1:
        raise ValueError(f"a dataset of {D} tokens is shorter than one context window ({n_ctx + 1})")
    torch.manual_seed(seed)
    stop_set = as_windows(stop_tokens, cfg.stop_tokens, n_ctx)
    model.to(device).train()
    run = Stepper(model, cfg, n_ctx, device, _sampler(train_tokens, cfg, n_ctx, seed, device))
    budget = budget_steps(cfg, n_ctx)
    t0 = time.perf_counter()
    curve: list[dict[str, float]] = []

    def record(phase: str, v: float, train_loss: float) -> None:
        curve.append({"step": run.steps, "tokens": run.tokens, "flops": run.tokens * flops_per_token,
                      "val_loss": v, "train_loss": train_loss, "phase": phase,
                      "elapsed_s": time.perf_counter() - t0})

    record("init", run.evaluate(stop_set), float("nan"))
    first, min_step = first_eval(D, n_ctx, cfg), min_stop_step(D, n_ctx, cfg)
    stopper = EarlyStopping(cfg.patience, cfg.min_delta)
    best: dict[str, Any] = {}
    stopped, due = "budget", next_eval(0, first, cfg)
    bar = tqdm(total=budget, desc=desc, unit="step", leave=False, disable=not progress)
    while run.steps < budget:
        run.step(warmup_lr(run.steps, cfg.warmup_steps, cfg))
        bar.update(1)
        if run.steps == due or run.steps == budget:
            train_loss = run.pause()
            v = run.evaluate(stop_set)
            record("stable" if run.steps >= cfg.warmup_steps else "warmup", v, train_loss)
            if stopper.update(v):
                phase = "stable" if run.steps >= cfg.warmup_steps else "warmup"
                best = {"loss": v, "step": run.steps, "phase": phase, **_snapshot(model, run.opt)}
            bar.set_postfix(val=f"{v:.4f}", best=f"{stopper.best:.4f}")
            if stopper.stop and run.steps >= min_step:
                stopped = "early_stop"
                break
            due = next_eval(run.steps, first, cfg)
    if not best:
        raise FloatingPointError(f"{desc}: the stopping-set loss was never finite (diverged); "
                                 f"lower the profile's lr")

    # Cooldown from the best checkpoint of the stable phase.
    run.restore(best)
    n_cool = cooldown_steps(best["step"], cfg)
    quarters = {max(1, round(n_cool * q / 4)) for q in range(1, 5)}
    best_step = best["step"]
    for i in range(n_cool):
        run.step(cooldown_lr(i, n_cool, cfg))
        bar.update(1)
        if i + 1 in quarters:
            train_loss = run.pause()
            v = run.evaluate(stop_set)
            record("cooldown", v, train_loss)
            if v < best["loss"]:
                best = {"loss": v, "step": best_step + i + 1, "phase": "cooldown", **_snapshot(model)}
    bar.close()
    run.pause()
    model.load_state_dict(best["model"])

    test = as_windows(test_tokens, cfg.test_tokens, n_ctx)
    losses = token_losses(model, test, device)
    nll, count = per_document(losses, test_doc_starts)
    wall = time.perf_counter() - t0
    tps = run.tokens / run.train_time if run.train_time > 0 else 0.0
    return TrainResult(
        loss=float(losses.mean()), stop_loss=best["loss"], best_step=best["step"], best_phase=best["phase"],
        steps=run.steps, tokens=run.tokens, stopped=stopped, curve=curve,
        doc_nll=[round(float(x), 4) for x in nll], doc_tokens=[int(x) for x in count],
        wall_s=wall, tokens_per_s=tps, mfu=(tps * flops_per_token / peak_flops) if peak_flops else None,
    )


def pretrain(
    model,
    source_tokens: np.ndarray,
    val_tokens: np.ndarray,
    checkpoints: list[int],
    cfg: TrainConfig,
    n_ctx: int,
    flops_per_token: float,
    seed: int,
    device: str = "cpu",
    peak_flops: float | None = None,
    desc: str = "pretrain",
    progress: bool = True,
) -> PretrainResult:
    """One pass over ``max(checkpoints)`` source tokens, in a random order of windows, at
    constant LR after warm-up; at each p in ``checkpoints`` a cooldown branch: from the
    trunk after (1 − cooldown_fraction)·p tokens, ``cooldown_fraction``·p more tokens of the
    same stream with the LR decaying to zero. Checkpoint p has seen p tokens (rounded down
    to whole batches), each once."""
    p_max = max(checkpoints)
    if len(source_tokens) < p_max:
        raise ValueError(f"pre-training on {p_max:,} tokens needs that many source tokens; "
                         f"the stream has {len(source_tokens):,}")
    torch.manual_seed(seed)
    data = as_windows(source_tokens, p_max, n_ctx)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    if device.startswith("cuda"):
        data, order = data.to(device), order.to(device)
    cursor = {"i": 0}

    def draw() -> torch.Tensor:  # the next batch of the one pass (the windows of p tokens, shuffled)
        i = cursor["i"]
        cursor["i"] += cfg.batch_size
        return data[order[i:i + cfg.batch_size]]

    val = as_windows(val_tokens, cfg.stop_tokens, n_ctx)
    model.to(device).train()
    run = Stepper(model, cfg, n_ctx, device, draw)
    steps_of = {p: pretrain_steps(p, n_ctx, cfg) for p in checkpoints}
    branch_at = {p: branch_step(s, cfg) for p, s in steps_of.items()}
    t0 = time.perf_counter()
    curve: list[dict[str, float]] = []
    out, val_loss, branch_steps = {}, {}, 0
    bar = tqdm(total=steps_of[p_max], desc=desc, unit="step", leave=False, disable=not progress)
    for p in sorted(checkpoints, key=lambda p: branch_at[p]):
        while run.steps < branch_at[p]:
            run.step(warmup_lr(run.steps, cfg.warmup_steps, cfg))
            bar.update(1)
        trunk = {**_snapshot(model, run.opt), "steps": run.steps, "cursor": cursor["i"]}
        n_cool = steps_of[p] - branch_at[p]
        for i in range(n_cool):
            run.step(cooldown_lr(i, n_cool, cfg))
        train_loss = run.pause()
        v = run.evaluate(val)
        curve.append({"step": run.steps, "tokens": run.steps * run.tokens_per_step,
                      "flops": run.steps * run.tokens_per_step * flops_per_token, "val_loss": v,
                      "train_loss": train_loss, "phase": f"cooldown p={p}", "elapsed_s": time.perf_counter() - t0})
        out[p], val_loss[p] = _snapshot(model)["model"], v
        bar.set_postfix(p=f"{p:,}", val=f"{v:.4f}")
        if p != p_max:  # back to the trunk; the branch's extra steps are not part of it
            branch_steps += run.steps - trunk["steps"]
            run.restore(trunk)
            run.steps, cursor["i"] = trunk["steps"], trunk["cursor"]
    bar.close()
    total_steps = run.steps + branch_steps
    tokens = total_steps * run.tokens_per_step
    tps = tokens / run.train_time if run.train_time > 0 else 0.0
    return PretrainResult(checkpoints=out, val_loss=val_loss, steps=total_steps, tokens=tokens, curve=curve,
                          wall_s=time.perf_counter() - t0, tokens_per_s=tps,
                          mfu=(tps * flops_per_token / peak_flops) if peak_flops else None)

