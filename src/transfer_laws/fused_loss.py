"""Next-token cross-entropy through the output layer, in row chunks that stay in cache.

At the sizes a CPU study trains, the 4096-way output layer and its softmax are most of
the step: at N = 3e3 a (tokens × vocab) logits tensor is ~20× the work of the rest of
the model, and PyTorch's log-softmax forward and backward each stream it through
memory and take an ``exp`` of every element. Here the logits of a few hundred rows at a
time are made, turned into the softmax *in place*, and immediately turned into the
gradients of the hidden states and of the output weight (the forward pass computes the
backward, as in Liger-Kernel's fused linear cross-entropy). The full logits tensor never
exists, each element gets one ``exp``, and nothing leaves the cache between the ops.

The result equals ``F.cross_entropy(h @ W.T, targets)`` up to float rounding; the tests
check the loss and both gradients against that.
"""

from __future__ import annotations

import torch

CHUNK_ROWS = 256


def _logits(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    logits = h @ weight.t()
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def _chunk_softmax_(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Turn ``logits`` into softmax probabilities in place; return each row's loss."""
    rows = torch.arange(len(targets), device=logits.device)
    m = logits.amax(dim=1, keepdim=True)
    logits.sub_(m)
    target_logit = logits[rows, targets]
    logits.exp_()
    s = logits.sum(dim=1, keepdim=True)
    logits.div_(s)
    return s.squeeze(1).log() - target_logit


def _chunked_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                  grad_hidden: torch.Tensor | None = None, grad_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss over all rows; fills the given gradient buffers (unscaled: summed over rows)."""
    total = 0.0
    for i in range(0, hidden.shape[0], CHUNK_ROWS):
        h, t = hidden[i:i + CHUNK_ROWS], targets[i:i + CHUNK_ROWS]
        logits = _logits(h, weight)
        total = total + _chunk_softmax_(logits, t).sum()
        if grad_hidden is None and grad_weight is None:
            continue
        logits[torch.arange(len(t), device=logits.device), t] -= 1.0  # d(loss)/d(logits)
        g = logits.to(hidden.dtype)
        if grad_hidden is not None:
            torch.mm(g, weight, out=grad_hidden[i:i + CHUNK_ROWS])
        if grad_weight is not None:
            grad_weight.addmm_(g.t(), h)
    return total / hidden.shape[0]


class LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        grad_hidden = torch.empty_like(hidden) if hidden.requires_grad else None
        grad_weight = torch.zeros_like(weight) if weight.requires_grad else None
        loss = _chunked_loss(hidden, weight, targets, grad_hidden, grad_weight)
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.n = hidden.shape[0]
        return loss

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_out / ctx.n
        gh = grad_hidden * scale if grad_hidden is not None else None
        gw = grad_weight * scale if grad_weight is not None else None
        return gh, gw, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``hidden @ weight.T`` against ``targets``: hidden (rows, d),
    weight (vocab, d), targets (rows,) of int64."""
    if not torch.is_grad_enabled() or not (hidden.requires_grad or weight.requires_grad):
        return _chunked_loss(hidden, weight, targets)
    return LinearCrossEntropy.apply(hidden, weight, targets)


def lm_loss(model, windows: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss of a GPT-2 ``model`` over ``windows`` of n_ctx + 1 tokens."""
    hidden = model.transformer(input_ids=windows[:, :-1], use_cache=False).last_hidden_state
    return linear_cross_entropy(hidden.reshape(-1, hidden.size(-1)), model.lm_head.weight,
                                windows[:, 1:].reshape(-1))
