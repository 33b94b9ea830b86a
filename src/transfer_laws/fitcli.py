"""`transfer-laws fit hernandez|barnett --runs RUNS.csv [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

from .laws import fit_barnett, fit_hernandez


def run_fit(law: str, runs: Path, as_json: bool, n_boot: int, seed: int,
            pretrain_tokens: float | None = None) -> None:
    if law == "hernandez":
        fit = fit_hernandez(runs, n_boot=n_boot, seed=seed, pretrain_tokens=pretrain_tokens)
    else:
        fit = fit_barnett(runs, n_boot=min(n_boot, 200), seed=seed, profile=True)
    if as_json:
        print(json.dumps(fit.to_dict(), indent=2, default=float))
    else:
        print(fit.summary())
