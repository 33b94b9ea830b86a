"""Do the transfer-gap law's lack-of-fit tests keep their level where the law holds? Rejection rates of ``gap.misfit_tests`` on synthetic runs.

Synthetic fine-tunes from a known Barnett law (4 p × 3 f, every cell once per seed), with
each run's scatter and offsets that a seed's runs share: one per (seed, f) (its D_F
subset) and one per (seed, p) (its pre-training checkpoint). The law holds, so each
part's test should reject in about 5% of draws; the table prints how often it does, per
part and for the book's rule (the smallest p-value × 3 under 0.05), with the offsets at,
above and far above the scatter.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/misfit_level.py --draws 20
"""

from __future__ import annotations

import argparse

import numpy as np

from transfer_laws.gap import MISFIT_PARTS, misfit_p, misfit_tests
from transfer_laws.laws import fit_barnett
from transfer_laws.synthetic import barnett_runs

TRUE = {"A": 8.0, "alpha": 0.3, "G": 0.8, "beta": 0.1, "E": 1.0}
SETTINGS = ((0.015, 0.010, 12), (0.015, 0.015, 12), (0.020, 0.050, 12), (0.003, 0.020, 6))  # scatter, offsets, seeds


def draw(rng: np.random.Generator, scatter: float, offsets: float, seeds: int):
    grid = barnett_runs(TRUE, noise=0.0, p_grid=np.geomspace(1e5, 1e8, 4), f_grid=np.geomspace(1e3, 1e6, 3))
    runs = grid.loc[grid.index.repeat(seeds)].assign(seed=np.tile(np.arange(seeds), len(grid))).reset_index(drop=True)
    log_noise = rng.normal(0, scatter, len(runs))
    for keys in (["seed", "tokens"], ["seed", "pretrain_tokens"]):
        codes = runs.groupby(keys).ngroup().to_numpy()
        log_noise += rng.normal(0, offsets, codes.max() + 1)[codes]
    return runs.assign(loss=runs["loss"] * np.exp(log_noise))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"| scatter | (seed, f) and (seed, p) offsets | seeds | rejected at 5%: {' / '.join(MISFIT_PARTS)} "
          f"| the book's rule (min p × 3) | draws |")
    print("|---:|---:|---:|---|---:|---:|")
    for scatter, offsets, seeds in SETTINGS:
        ps = []
        for _ in range(args.draws):
            runs = draw(rng, scatter, offsets, seeds)
            tests = misfit_tests(fit_barnett(runs, n_boot=0), runs)
            ps.append([*tests["p"], misfit_p(tests)])
        ps = np.array(ps)
        rates = (ps < 0.05).mean(axis=0)
        print(f"| {scatter:.3f} | {offsets:.3f} | {seeds} | {' / '.join(f'{r:.2f}' for r in rates[:-1])} "
              f"| {rates[-1]:.2f} | {args.draws} |")


if __name__ == "__main__":
    main()
