"""Budget allocation: the loss-minimising split of a data budget between
pre-training tokens p and fine-tuning tokens f, under a fitted L(p, f).

Cost = price_p · p + price_f · f = budget. We search the share s of the budget
spent on pre-training on a dense logit grid, then refine with a bounded scalar
minimisation: L(p, f) is smooth in s and the grid guards against a flat region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from ..errors import InputError
from .results import FitResults


@dataclass
class Allocation:
    budget: float
    pretrain_tokens: float
    finetune_tokens: float
    share_pretrain: float  # share of the budget spent on pre-training
    loss: float


def optimal_allocation(fit: FitResults, budget: float, price_pretrain: float, price_finetune: float,
                       min_tokens: float = 1.0) -> Allocation:
    if budget <= 0 or price_pretrain <= 0 or price_finetune <= 0:
        raise InputError("budget and prices must be positive.")
    if budget < (price_pretrain + price_finetune) * min_tokens:
        raise InputError(f"a budget of {budget:g} cannot buy {min_tokens:g} token(s) of each kind.")

    def split(s: float) -> tuple[float, float]:
        return s * budget / price_pretrain, (1 - s) * budget / price_finetune

    def loss(s: float) -> float:
        p, f = split(s)
        if p < min_tokens or f < min_tokens:
            return np.inf
        return float(fit.predict(np.array([p]), np.array([f]))[0])

    grid = 1 / (1 + np.exp(-np.linspace(-14, 14, 561)))
    vals = np.array([loss(s) for s in grid])
    i = int(np.nanargmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    r = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    s = float(r.x) if r.fun <= vals[i] else float(grid[i])
    p, f = split(s)
    return Allocation(budget, p, f, s, loss(s))


def allocation_curve(fit: FitResults, budgets, price_pretrain: float, price_finetune: float) -> pd.DataFrame:
    return pd.DataFrame([optimal_allocation(fit, b, price_pretrain, price_finetune).__dict__ for b in budgets])
