"""Verdicts on a claim from a fitted quantity and its interval: ``holds``, ``fails`` or
``can't tell``.

The rules are fixed here, before any outcome is looked at, and each is a function of
estimates and intervals only, so it can be tested on made-up numbers:

- ``direction_verdict``: the claim says a difference has a sign. The 95% interval on
  that side of 0: holds; on the other side: fails; straddling 0 (or unbounded): can't tell.
- ``equivalence_verdict``: the claim says two constants are equal. An interval inside
  ±margin (two one-sided tests at 2.5% each): holds; one entirely beyond the margin
  (lo > margin or hi < −margin): fails; otherwise: can't tell (``differs_from_zero``
  says whether the interval at least excludes 0). Equality is never read off an interval
  that merely contains 0, and a difference smaller than the margin is never a failure.
- ``share_verdict``: the claim says something happens in most cases. The exact
  (Clopper–Pearson) 95% interval of the share above 1/2: holds; below: fails.
  ``sign_test_verdict``: the same claim on a handful of units (model sizes), by the exact
  one-sided sign test: p < 0.05 for "more than half": holds; against: fails.
- ``rank_verdict``: the claim says one quantity falls as another rises across pairs.
  Spearman's ρ with the exact one-sided permutation p-value: ρ in the claimed direction
  with p < 0.05: holds; in the other direction with p < 0.05: fails. With fewer than
  ``MIN_RANK_PAIRS`` pairs no ranking can reach p < 0.05: can't tell.
- ``spread_verdict``: the claim says a constant differs widely between pairs. Read off
  the interval of each pairwise log-ratio (of the difference, not of two separate
  intervals): one that lies beyond ±ln ``WIDE_FACTOR`` at the Bonferroni level over the
  k(k−1)/2 ratios: holds; ``MIN_SPREAD_PAIRS`` or more pairs whose every 95% log-ratio
  interval lies inside ±ln ``WIDE_FACTOR``: fails.
- ``rank_verdict_over_intervals``: ``rank_verdict`` for every ordering of x that its
  intervals allow: holds (fails) only if every such ordering holds (fails).

A claim tested on m pairs fails if any pair fails; for that "any" to keep its 5% error,
each pair's fails side is read at level 1 − 0.05/m (Bonferroni, ``bonferroni_level``);
the holds side, which needs every pair, needs no correction.

``seeds_to_decide`` turns an undecided interval into the number of seeds that would
decide it, under the scaling of a noise-limited estimate: each side of the interval
shrinks about the estimate as 1/√(seeds).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from scipy.stats import beta as beta_dist
from scipy.stats import binom, rankdata

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
    if -margin < lo and hi < margin:
        return HOLDS
    if lo > margin or hi < -margin:
        return FAILS
    return CANT_TELL


def differs_from_zero(lo: float, hi: float) -> bool:
    return bool(lo is not None and hi is not None and (lo > 0 or hi < 0))


def bonferroni_level(tests: int, level: float = 0.95) -> float:
    """The level each of ``tests`` intervals needs for "any of them" to keep ``level``."""
    return 1 - (1 - level) / max(int(tests), 1)


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


def sign_test_verdict(successes: int, trials: int, alpha: float = 0.05) -> tuple[str, float, float, float]:
    """(verdict, share, one-sided p for "more than half", one-sided p for "less than
    half"): the exact sign test over independent units."""
    if trials == 0:
        return CANT_TELL, math.nan, math.nan, math.nan
    p_more = float(binom.sf(successes - 1, trials, 0.5))
    p_less = float(binom.cdf(successes, trials, 0.5))
    verdict = HOLDS if p_more < alpha else FAILS if p_less < alpha else CANT_TELL
    return verdict, successes / trials, p_more, p_less


def spearman_exact(x, y) -> tuple[float, float, float]:
    """(ρ, p that ρ is this low or lower, p that it is this high or higher) over every
    ordering of y (exact; fine for the handful of pairs a book has). Ties get mid-ranks."""
    rx = rankdata(np.asarray(x, float))
    ry = rankdata(np.asarray(y, float))
    n = len(rx)
    if n < 2:
        return math.nan, 1.0, 1.0
    r_obs = float(np.corrcoef(rx, ry)[0, 1])
    perms = _null_rhos(tuple(rx), tuple(sorted(ry)))
    eps = 1e-12
    return r_obs, float(np.mean(perms <= r_obs + eps)), float(np.mean(perms >= r_obs - eps))


@functools.lru_cache(maxsize=64)
def _null_rhos(rx: tuple, ry: tuple) -> np.ndarray:
    """ρ of rx against every ordering of ry (Monte Carlo beyond 8 pairs), vectorised and
    kept: a ranking tested over many allowed orderings of x reuses it (the distribution
    depends on rx only through its multiset of ranks)."""
    n = len(rx)
    if n <= 8:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(0)
        orders = np.array([rng.permutation(n) for _ in range(20000)])
    a = np.asarray(rx, float) - np.mean(rx)
    b = np.asarray(ry, float)[orders]
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a**2).sum()) * np.sqrt((b**2).sum(axis=1))
    return (b @ a) / np.where(denom > 0, denom, np.nan)


def rank_verdict(x, y, expect: str = "negative") -> tuple[str, float, float]:
    """(verdict, ρ, the one-sided p-value in the claimed direction)."""
    n = len(x)
    if n < MIN_RANK_PAIRS:
        return CANT_TELL, (spearman_exact(x, y)[0] if n >= 2 else math.nan), math.nan
    r, p_low, p_high = spearman_exact(x, y)
    p_claim, p_other = (p_low, p_high) if expect == "negative" else (p_high, p_low)
    verdict = HOLDS if p_claim < 0.05 else FAILS if p_other < 0.05 else CANT_TELL
    return verdict, r, p_claim


def rank_verdict_over_intervals(intervals: list[tuple[float, float]], y, expect: str = "negative"
                                ) -> tuple[str, float, float, float]:
    """``rank_verdict`` of x against y where x is known only to lie in ``intervals``
    (ends may be 0 or inf): over every ordering of x the intervals allow, (verdict, the
    range of ρ, the largest one-sided p in the claimed direction). Holds only if every
    allowed ordering holds; fails only if every one fails."""
    n = len(intervals)
    if n < MIN_RANK_PAIRS:
        return CANT_TELL, math.nan, math.nan, math.nan
    lo = np.array([a for a, _ in intervals], float)
    hi = np.array([b for _, b in intervals], float)
    verdicts, rhos, ps = set(), [], []
    for order in itertools.permutations(range(n)):  # order[0] smallest
        v = -np.inf
        ok = True
        for i in order:  # the smallest values consistent with this order
            v = max(v, lo[i])
            if v > hi[i]:
                ok = False
                break
        if not ok:
            continue
        x = np.empty(n)
        x[list(order)] = np.arange(n)
        verdict, r, p = rank_verdict(x, y, expect)
        verdicts.add(verdict)
        rhos.append(r)
        ps.append(p)
    verdict = verdicts.pop() if len(verdicts) == 1 else CANT_TELL
    return verdict, float(min(rhos)), float(max(rhos)), float(max(ps))


def spread_verdict(ratios_adjusted: list[tuple[float, float]], ratios_95: list[tuple[float, float]],
                   groups: int) -> tuple[str, float, float]:
    """(verdict, the smallest factor the intervals guarantee between some two pairs, the
    largest they allow). ``ratios_*``: intervals of ln(G_i/G_j) for every two of the
    ``groups`` pairs, at the Bonferroni level and at 95%."""
    w = math.log(WIDE_FACTOR)
    if groups < 2 or not ratios_adjusted:
        return CANT_TELL, math.nan, math.nan
    at_least = max(max(lo, -hi, 0.0) for lo, hi in ratios_adjusted)
    at_most = max(max(abs(lo), abs(hi)) for lo, hi in ratios_95)
    if at_least > w:
        return HOLDS, math.exp(at_least), math.exp(at_most)
    if groups >= MIN_SPREAD_PAIRS and all(-w < lo and hi < w for lo, hi in ratios_95):
        return FAILS, math.exp(at_least), math.exp(at_most)
    return CANT_TELL, math.exp(at_least), math.exp(at_most)


def seeds_to_decide(estimate: float, lo: float, hi: float, seeds: float, margin: float | None = None) -> float:
    """Seeds at which the interval, each side shrinking about the same estimate as
    1/√seeds, would decide the claim: exclude 0 (``margin`` None: the side facing 0 must
    clear it), or for an equivalence claim, fit inside ±margin (both sides). inf where no
    number of seeds would (an unbounded interval, an estimate at 0, or outside the
    margin), ``seeds`` itself where it is decided already."""
    if not _bounded(lo, hi) or seeds <= 0:
        return math.inf
    below, above = estimate - lo, hi - estimate  # the interval's two sides
    if margin is None:
        if estimate == 0:
            return math.inf
        side, room = (below, estimate) if estimate > 0 else (above, -estimate)
        factor = side / room
    else:
        if abs(estimate) >= margin:
            return math.inf
        factor = max(above / (margin - estimate), below / (margin + estimate))
    return float(max(seeds, seeds * factor ** 2))


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
