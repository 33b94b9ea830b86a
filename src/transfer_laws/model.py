"""The model family: GPT-2 decoder-only transformers sized by non-embedding parameters.

Why GPT-2 and not Llama: both papers (and Kaplan et al., whose from-scratch law
they compare against) use GPT-2-style models with learned position embeddings,
pre-LayerNorm and a GELU MLP, and count N the same way. Matching the architecture
keeps our N comparable with theirs.

One shape rule covers every size:

- at least ``MIN_LAYERS`` = 2 layers: a one-layer transformer has no induction heads,
  and Kaplan et al. (2020) find models under two layers fall off the L(N) trend;
- aspect ratio: width ≈ 32 × depth (``d_model ≈ 32·n_layer``), the width then
  adjusted in steps of 16 so that N lands near the requested value;
- head size 16 (``n_head = d_model / 16``): small heads keep several heads even at
  width 32;
- MLP ratio 4; tied input/output embeddings, as in GPT-2.

N counts every parameter except the token and position embeddings (Kaplan et al.,
Hernandez et al.): ≈ 12·n_layer·d_model² plus LayerNorm and bias terms. It is counted
from the instantiated model, never from the formula.

Compute counts the output layer: at our widths and vocabularies the d·V product of the
LM head is a large share of a step, which Kaplan's 6N + attention leaves out
(``flops_per_token`` counts it, ``kaplan_flops_per_token`` is kept as a labelled column).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

MIN_LAYERS = 2
ASPECT = 32
HEAD_SIZE = 16
MLP_RATIO = 4
WIDTH_STEP = 16


@dataclass(frozen=True)
class ModelShape:
    n_layer: int
    d_model: int
    n_head: int
    vocab_size: int
    n_ctx: int

    def to_dict(self) -> dict:
        return asdict(self)


def shape_for(n_target: int, vocab_size: int, n_ctx: int) -> ModelShape:
    """The family member whose non-embedding parameter count is closest to ``n_target``."""
    if n_target < 1000:
        raise ValueError(f"N={n_target} is too small for the family (smallest is ~3e3)")
    n_layer = max(MIN_LAYERS, round((n_target / (12 * ASPECT**2)) ** (1 / 3)))
    d = math.sqrt(n_target / (12 * n_layer))
    d_model = max(WIDTH_STEP, int(round(d / WIDTH_STEP)) * WIDTH_STEP)
    return ModelShape(n_layer, d_model, d_model // HEAD_SIZE, vocab_size, n_ctx)


def build_model(shape: ModelShape):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=shape.vocab_size,
        n_positions=shape.n_ctx,
        n_embd=shape.d_model,
        n_layer=shape.n_layer,
        n_head=shape.n_head,
        n_inner=MLP_RATIO * shape.d_model,
        activation_function="gelu_pytorch_tanh",  # gelu_new's formula in one fused kernel
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
    )
    try:
        return GPT2LMHeadModel._from_config(cfg, attn_implementation="sdpa")
    except (TypeError, ValueError, ImportError):
        return GPT2LMHeadModel(cfg)


def count_non_embedding(model) -> int:
    """Parameters excluding the token and position embeddings (the tied LM head is
    the token embedding, so it is excluded once)."""
    seen, total = set(), 0
    emb = {id(model.transformer.wte.weight), id(model.transformer.wpe.weight)}
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) not in emb:
            total += p.numel()
    return total


def count_total(model) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def kaplan_flops_per_token(n_params: int, shape: ModelShape) -> float:
    """Training FLOPs per token as Kaplan et al. (2020) Table 1 count them: 6N plus the
    attention term 6·n_layer·n_ctx·d_model (forward 2N + 2·n_layer·n_ctx·d_attn, backward
    twice that). It leaves out the output layer."""
    return 6 * n_params + 6 * shape.n_layer * shape.n_ctx * shape.d_model


def flops_per_token(n_params: int, shape: ModelShape) -> float:
    """Training FLOPs per token with the output layer counted: 6·(N + d·V) plus attention.
    (The input embedding is a lookup, no FLOPs.)"""
    return kaplan_flops_per_token(n_params, shape) + 6 * shape.d_model * shape.vocab_size


# Named sizes used by the profiles and printed by `transfer-laws models`.
FAMILY_TARGETS = {
    "3k": 3_000, "10k": 10_000, "30k": 30_000, "100k": 100_000, "300k": 300_000,
    "1M": 1_000_000, "3M": 3_000_000, "10M": 10_000_000, "30M": 30_000_000,
}


def describe(shape: ModelShape) -> dict:
    """One family member as ``transfer-laws models --json`` prints it."""
    model = build_model(shape)
    n = count_non_embedding(model)
    return {"n_params": n, **shape.to_dict(), "total_params": count_total(model),
            "flops_per_token": flops_per_token(n, shape), "kaplan_flops_per_token": kaplan_flops_per_token(n, shape)}


def family_table(vocab_size: int = 1024, n_ctx: int = 256) -> list[dict]:
    return [{"name": name, "target": target, **describe(shape_for(target, vocab_size, n_ctx))}
            for name, target in FAMILY_TARGETS.items()]
