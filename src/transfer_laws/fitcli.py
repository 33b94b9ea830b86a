"""`transfer-laws fit scratch|hernandez|compare|barnett --runs RUNS.csv [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError
from .laws import compare_sources, fit_barnett, fit_hernandez, fit_scratch_law


def run_fit(law: str, runs: Path, as_json: bool, n_boot: int, seed: int,
            pretrain_tokens: float | None = None, form: str = "chinchilla", source: str | None = None,
            sources: list[str] | None = None) -> None:
    if law == "scratch":
        fit = fit_scratch_law(runs, form=form, n_boot=n_boot, seed=seed)
    elif law == "hernandez":
        fit = fit_hernandez(runs, source=source, pretrain_tokens=pretrain_tokens, n_boot=n_boot, seed=seed)
    elif law == "compare":
        if not sources or len(sources) != 2:
            raise InputError("fit compare needs two sources: --sources A B")
        fit = compare_sources(runs, *sources, pretrain_tokens=pretrain_tokens, n_boot=n_boot, seed=seed)
    else:
        fit = fit_barnett(runs, n_boot=min(n_boot, 200), seed=seed, profile=True)
    if as_json:
        print(json.dumps(fit.to_dict(), indent=2, default=float))
    else:
        print(fit.summary())
