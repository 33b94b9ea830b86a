"""Table 1 at two fine-tuning LRs: the paired loss change and the change of the constants."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from transfer_laws.errors import InputError
from transfer_laws.lr_sensitivity import compare_lrs, constant_changes, loss_change
from transfer_laws.synthetic import Truth, design_runs


def _finetunes(shift_by_seed, seeds=(0, 1, 2)):
    rows = [{"n_params": n, "tokens": f, "seed": s, "loss": 5.0 - 0.1 * np.log(f) + shift_by_seed.get(s, 0.0) * (f > 3000),
             "lr": 3e-3, "phase": "stable"} for n in (1e4, 1e5) for f in (2048.0, 8192.0) for s in seeds]
    return pd.DataFrame(rows)


def test_the_loss_change_is_paired_and_its_error_is_over_the_seeds():
    base = _finetunes({})
    other = _finetunes({0: -0.05, 1: -0.07, 2: -0.09}).iloc[:-1]  # one run missing: not paired
    ch = loss_change(base, other).set_index("D_F")
    assert ch.loc[2048.0, "change"] == pytest.approx(0.0) and ch.loc[2048.0, "runs"] == 6
    assert ch.loc[8192.0, "runs"] == 5
    assert ch.loc[8192.0, "change"] == pytest.approx(-0.07)
    assert ch.loc[8192.0, "se"] == pytest.approx(0.02 / np.sqrt(3))
    assert ch.loc[8192.0, "by seed"] == "-0.050, -0.070, -0.090"


def test_a_change_of_alpha_between_lrs_is_found_and_an_unchanged_beta_is_not():
    base = design_runs(Truth(), seed=31, source="s")
    other = design_runs(Truth(alpha=0.35), seed=32, source="s")
    other = pd.concat([base[base["kind"] == "scratch"], other[other["kind"] == "finetune"]], ignore_index=True)
    d = constant_changes(base, other, "LR a", "LR b")
    ci = d.conf_int()
    assert ci.loc["alpha_diff", 0] > 0 and ci.loc["alpha_diff", 0] <= 0.15 <= ci.loc["alpha_diff", 1]
    assert ci.loc["beta_diff", 0] <= 0 <= ci.loc["beta_diff", 1]


def test_studies_with_different_from_scratch_runs_are_not_compared():
    runs = [design_runs(Truth(), seed=s, source="s") for s in (41, 42)]
    studies = [SimpleNamespace(source="s", target="t", main_runs=r, records=[], main_p=1.0, seeds=(0,)) for r in runs]
    with pytest.raises(InputError, match="from-scratch runs differ"):
        compare_lrs(*studies)
