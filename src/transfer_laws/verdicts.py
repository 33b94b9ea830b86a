"""Verdicts on a claim from a fitted quantity and its interval: ``holds``, ``fails`` or
``can't tell``.

The rules are fixed here, before any outcome is looked at, and each is a function of
estimates and intervals only, so it can be tested on made-up numbers:

- ``direction_verdict``: the claim says a difference has a sign. The 95% interval on
  that side of 0: holds; on the other side: fails; straddling 0 (or unbounded): can't tell.
- ``equivalence_verdict``: the claim says two constants are equal. An interval that
  excludes 0: fails; one that lies inside ±margin (two one-sided tests at 2.5% each):
  holds; otherwise: can't tell. Equality is never read off an interval that merely
  contains 0.
- ``share_verdict``: the claim says something happens in most cases. The exact
  (Clopper–Pearson) 95% interval of the share above 1/2: holds; below: fails.
- ``rank_verdict``: the claim says one quantity falls as another rises across pairs.
  Spearman's ρ with the exact one-sided permutation p-value: ρ in the claimed direction
  with p < 0.05: holds; in the other direction with p < 0.05: fails. With fewer than
  ``MIN_RANK_PAIRS`` pairs no ranking can reach p < 0.05: can't tell.
- ``spread_verdict``: the claim says a constant differs widely between pairs. Two pairs
  whose intervals say they differ by at least ``WIDE_FACTOR`` (the higher one's lower
  end over the lower one's upper end): holds; ``MIN_SPREAD_PAIRS`` or more pairs all
  inside one band narrower than that factor (highest upper end over lowest lower
  end): fails.

``seeds_to_decide`` turns an undecided interval into the number of seeds that would
decide it, under the scaling of a noise-limited estimate: the half-width shrinks as
1/√(seeds).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.stats import beta as beta_dist

HOLDS, FAILS, CANT_TELL = "holds", "fails", "can't tell"
VERDICTS = (HOLDS, FAILS, CANT_TELL)
MIN_RANK_PAIRS = 4  # 4! = 24 orderings: a perfect ranking has one-sided p = 1/24 < 0.05; with 3, 1/6
WIDE_FACTOR = 2.0
MIN_SPREAD_PAIRS = 3


def _bounded(lo: float, hi: float) -> bool:
    return lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi)


def direction_verdict(lo: float, hi: float, expect: str) -> str:
    """``expect``: ``positive`` or ``negative``, the sign the claim gives the quantity."""
    if expect not in ("positive", "negative"):
        raise ValueError("expect is 'positive' or 'negative'")
    if lo is None or hi is None or np.isnan(lo) or np.isnan(hi):
        return CANT_TELL
    if lo > 0:
        return HOLDS if expect == "positive" else FAILS
    if hi < 0:
        return HOLDS if expect == "negative" else FAILS
    return CANT_TELL


def equivalence_verdict(lo: float, hi: float, margin: float) -> str:
    """The claim: the quantity is 0. ``margin`` is the largest |difference| still read as
    equal, fixed before the data are seen."""
    if lo is None or hi is None or np.isnan(lo) or np.isnan(hi):
        return CANT_TELL
    if lo > 0 or hi < 0:
        return FAILS
    if -margin < lo and hi < margin:
        return HOLDS
    return CANT_TELL


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    a = 1 - level
    lo = 0.0 if successes == 0 else float(beta_dist.ppf(a / 2, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(beta_dist.ppf(1 - a / 2, successes + 1, trials - successes))
    return lo, hi


def share_verdict(successes: int, trials: int) -> tuple[str, float, float, float]:
    """(verdict, share, low, high): the claim holds in most cases."""
    if trials == 0:
        return CANT_TELL, math.nan, math.nan, math.nan
    lo, hi = clopper_pearson(successes, trials)
    verdict = HOLDS if lo > 0.5 else FAILS if hi < 0.5 else CANT_TELL
    return verdict, successes / trials, lo, hi


def spearman_exact(x, y) -> tuple[float, float, float]:
    """(ρ, p that ρ is this low or lower, p that it is this high or higher) over every
    ordering of y (exact; fine for the handful of pairs a book has)."""
    rx = np.argsort(np.argsort(np.asarray(x, float)))
    ry = np.argsort(np.argsort(np.asarray(y, float)))
    n = len(rx)
    if n < 2:
        return math.nan, 1.0, 1.0

    def rho(r):
        return float(np.corrcoef(rx, r)[0, 1])

    r_obs = rho(ry)
    perms = np.array([rho(np.array(p)) for p in itertools.permutations(range(n))]) if n <= 8 else None
    if perms is None:  # Monte Carlo beyond 8 pairs
        rng = np.random.default_rng(0)
        perms = np.array([rho(rng.permutation(n)) for _ in range(20000)])
    eps = 1e-12
    return r_obs, float(np.mean(perms <= r_obs + eps)), float(np.mean(perms >= r_obs - eps))


def rank_verdict(x, y, expect: str = "negative") -> tuple[str, float, float]:
    """(verdict, ρ, the one-sided p-value in the claimed direction)."""
    n = len(x)
    if n < MIN_RANK_PAIRS:
        return CANT_TELL, (spearman_exact(x, y)[0] if n >= 2 else math.nan), math.nan
    r, p_low, p_high = spearman_exact(x, y)
    p_claim, p_other = (p_low, p_high) if expect == "negative" else (p_high, p_low)
    verdict = HOLDS if p_claim < 0.05 else FAILS if p_other < 0.05 else CANT_TELL
    return verdict, r, p_claim


def spread_verdict(intervals: list[tuple[float, float]]) -> tuple[str, float, float]:
    """(verdict, the smallest ratio the intervals allow between the most different pairs,
    the largest). ``intervals``: 95% intervals (positive) of the bounded pairs only."""
    ok = [(lo, hi) for lo, hi in intervals if _bounded(lo, hi) and lo > 0]
    if len(ok) < 2:
        return CANT_TELL, math.nan, math.nan
    at_least = max(lo for lo, _ in ok) / min(hi for _, hi in ok)
    at_most = max(hi for _, hi in ok) / min(lo for lo, _ in ok)
    if at_least >= WIDE_FACTOR:
        return HOLDS, at_least, at_most
    if len(ok) >= MIN_SPREAD_PAIRS and at_most < WIDE_FACTOR:
        return FAILS, at_least, at_most
    return CANT_TELL, at_least, at_most


def seeds_to_decide(estimate: float, lo: float, hi: float, seeds: float, margin: float | None = None) -> float:
    """Seeds at which the interval, shrinking as 1/√seeds about the same estimate, would
    decide the claim: exclude 0 (``margin`` None), or for an equivalence claim, fit inside
    ±margin. inf where no number of seeds would (an unbounded interval, an estimate at 0,
    or outside the margin), ``seeds`` itself where it is decided already."""
    if not _bounded(lo, hi) or seeds <= 0:
        return math.inf
    half = (hi - lo) / 2
    if margin is None:
        need = abs(estimate)
    else:
        need = margin - abs(estimate)
    if need <= 0:
        return math.inf
    return float(max(seeds, seeds * (half / need) ** 2))


def seeds_for_t_interval(mean: float, sd: float, max_seeds: int = 1000) -> float:
    """The fewest seeds at which a t interval of a mean over seeds, t(S−1)·sd/√S wide on
    each side, would exclude 0 if the mean and the per-seed spread stay as measured;
    inf if not within ``max_seeds``."""
    from scipy.stats import t as t_dist

    if not (np.isfinite(mean) and np.isfinite(sd)) or mean == 0:
        return math.inf
    for s in range(2, max_seeds + 1):
        if t_dist.ppf(0.975, s - 1) * sd / math.sqrt(s) < abs(mean):
            return float(s)
    return math.inf
