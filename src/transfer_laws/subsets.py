"""Which tokens of a split a run trains on: a function of its seed and size alone.

Seed s reads the split from its own starting document (the documents are already in a
fixed random order, so every stretch is a random sample of them) and takes the first D
tokens from there, wrapping around at the end. Seeds 0-7 start at ``s/8`` of the way
through, seeds 8-15 halfway between those (``(2(s-8)+1)/16``), so that the first
eight seeds kept their stretches when the second eight were added:

- within a seed, subsets are nested: the D-token set lies inside every larger one, so a
  seed's runs at different D share data and differ only in how much of it they see;
- across seeds, subsets up to ``len/SLOTS`` tokens are disjoint (``len/8`` among seeds
  0-7), so seed-to-seed spread measures what a different sample of the data does, not
  only a different initialisation.

Seed 0 starts at the first token: its subsets are the prefixes of the split.
"""

from __future__ import annotations

import numpy as np

SLOTS = 16


def slot(seed: int) -> int:
    """Where seed ``seed``'s stretch starts, in sixteenths of the split: seeds 0-7 at the
    even sixteenths (their stretches from before there were 16 slots), 8-15 at the odd
    ones; a seed of 16 or more shares the slot of ``seed mod 16``."""
    if seed < 0:
        raise ValueError(f"seed {seed} is negative")
    s = seed % SLOTS
    return 2 * s if s < SLOTS // 2 else 2 * (s - SLOTS // 2) + 1


def subset_start(n_split: int, doc_starts: np.ndarray, seed: int) -> int:
    """The first token of seed ``seed``'s stretch: the document start at or after
    ``slot(seed)/SLOTS`` of the split."""
    target = slot(seed) * n_split // SLOTS
    i = int(np.searchsorted(np.asarray(doc_starts, dtype=np.int64), target, side="left"))
    return int(doc_starts[i]) if i < len(doc_starts) else 0


def seed_subset(tokens: np.ndarray, doc_starts: np.ndarray, n_tokens: int, seed: int) -> np.ndarray:
    """The ``n_tokens`` tokens seed ``seed`` trains on (see the module docstring)."""
    n = len(tokens)
    if not 0 < n_tokens <= n:
        raise ValueError(f"asked for {n_tokens:,} tokens of a split of {n:,}")
    start = subset_start(n, doc_starts, seed)
    if start + n_tokens <= n:
        return tokens[start:start + n_tokens]
    return np.concatenate([tokens[start:], tokens[: n_tokens - (n - start)]])
