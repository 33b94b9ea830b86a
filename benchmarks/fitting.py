"""Time the fits: Hernandez with 1,000 bootstrap resamples on 200 runs, and the
transfer-gap law with its start grid and 200 resamples, or with profile-likelihood
intervals. Target: each under 30 s on 2 cores.

    .venv/bin/python benchmarks/fitting.py
"""

from __future__ import annotations

import time

import numpy as np

from transfer_laws.laws import fit_barnett, fit_hernandez
from transfer_laws.synthetic import barnett_runs, hernandez_runs


def main() -> None:
    h = hernandez_runs(sizes=np.geomspace(1e4, 1e6, 8), finetune_sizes=np.geomspace(1e3, 1e5, 10),
                       scratch_sizes=np.geomspace(1e3, 1e9, 15))
    t = time.perf_counter()
    fit = fit_hernandez(h, n_boot=1000)
    th = time.perf_counter() - t
    print(f"hernandez: {len(h)} runs, 1000 resamples: {th:.1f} s  (alpha {fit.params['alpha']:.3f}, "
          f"beta {fit.params['beta']:.3f})")
    b = barnett_runs(p_grid=np.geomspace(1e5, 1e8, 10), f_grid=np.geomspace(1e3, 1e7, 20))
    t = time.perf_counter()
    fit = fit_barnett(b, n_boot=200)
    tb = time.perf_counter() - t
    print(f"barnett:   {len(b)} runs, start grid + 200 resamples: {tb:.1f} s  (G {fit.params['G']:.3f})")
    t = time.perf_counter()
    fit = fit_barnett(b, n_boot=0, profile=True)
    tp = time.perf_counter() - t
    lo, hi = fit.conf_int(method="profile").loc["G"]
    print(f"barnett:   {len(b)} runs, start grid + profile intervals of all 5 constants: {tp:.1f} s  "
          f"(G in [{lo:.3f}, {hi:.3f}])")


if __name__ == "__main__":
    main()
