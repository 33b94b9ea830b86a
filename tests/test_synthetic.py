"""Synthetic runs built like a study (``synthetic.like_study``) reproduce what they were
built from: the measured σ(N, D) surface and σ_c, the fitted from-scratch curves and
k, α, β."""

from dataclasses import replace

import numpy as np
import pytest

from transfer_laws.errors import InputError
from transfer_laws.laws import estimate_noise
from transfer_laws.synthetic import Design, Truth, design_runs, like_study, restrict_to


@pytest.fixture(scope="module")
def study():
    """A 3-seed study (synthetic records) and what ``like_study`` reads from it."""
    runs = design_runs(Truth(), seed=3)
    return runs, like_study(runs)


def test_like_study_reads_the_fit_and_the_design(study):
    runs, like = study
    fit = like.fit
    assert (like.truth.k, like.truth.alpha, like.truth.beta) == tuple(fit.params[["k", "alpha", "beta"]])
    assert like.design.seeds == (0, 1, 2) and like.design.sizes == Design().sizes
    for n, curve in fit.info["scratch_curves"].items():  # the spline passes through its knot values
        np.testing.assert_allclose(like.truth.scratch(n, curve["D"]), curve["loss"], atol=1e-9)
    assert like.noise.model.glm.keys() == estimate_noise(runs).glm.keys()


def test_draws_like_a_study_scatter_as_measured(study):
    """Across many seeds, a cell's losses scatter about the fitted curve by σ(N, D)² + σ_c²."""
    _, like = study
    runs = design_runs(like.truth, replace(like.design, seeds=tuple(range(300))), like.noise, seed=9)
    truth, model = like.truth, like.noise.model
    sc = runs["kind"] == "scratch"
    runs["err"] = np.where(sc, truth.scratch(runs["n_params"], runs["tokens"]),
                           truth.finetune(runs["n_params"], runs["tokens"]))
    runs["err"] = runs["loss"] - runs["err"]
    cells = runs.groupby(["kind", "n_params", "tokens"])["err"].agg(["mean", "var"]).reset_index()
    kind = cells["kind"].to_numpy()
    expected = model.sd(kind, cells["n_params"], cells["tokens"]) ** 2 + np.where(
        kind == "scratch", model.cluster_sd("scratch"), model.cluster_sd("finetune")) ** 2
    ratio = np.sqrt(cells["var"] / expected)
    assert np.median(np.abs(ratio - 1)) < 0.05 and np.abs(ratio - 1).max() < 0.2
    assert np.abs(cells["mean"]).max() < 4 * np.sqrt(expected / 300).max()  # centred on the fitted curves


def test_draws_like_a_study_give_back_its_noise_model(study):
    """``estimate_noise`` of many seeds drawn like the study finds the noise it was built from."""
    _, like = study
    runs = design_runs(like.truth, replace(like.design, seeds=tuple(range(40))), like.noise, seed=10)
    built, again = like.noise.model, estimate_noise(runs)
    cells = runs[["kind", "n_params", "tokens"]].drop_duplicates()
    args = cells["kind"].to_numpy(), cells["n_params"].to_numpy(), cells["tokens"].to_numpy()
    assert np.median(np.abs(again.sd(*args) / built.sd(*args) - 1)) < 0.15
    for kind in ("scratch", "finetune"):
        assert again.cluster_sd(kind) == pytest.approx(built.cluster_sd(kind), abs=0.012)


def test_restrict_to_keeps_only_the_recorded_points(study):
    runs, like = study
    recorded = runs[~((runs["seed"] == 2) & (runs["n_params"] > 3e4))]  # seed 2 half-trained
    drawn = restrict_to(design_runs(like.truth, like.design, like.noise, seed=1), recorded)
    assert len(drawn) == len(recorded)
    assert not ((drawn["seed"] == 2) & (drawn["n_params"] > 3e4)).any()


def test_a_study_without_replicates_is_refused():
    single = design_runs(Truth(), Design(seeds=(0,)), seed=1)
    with pytest.raises(InputError, match="no seed replicates"):
        like_study(single)


def test_a_fitted_truth_cannot_draw_other_p(study):
    _, like = study
    with pytest.raises(InputError, match="main p"):
        design_runs(like.truth, replace(like.design, gap_sizes=Design().gap_sizes), like.noise, seed=1,
                    gap_grid=True)
