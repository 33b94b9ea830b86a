"""The claim verdicts: the rules on made-up numbers, each claim's test on synthetic
runs whose truth is known, and the claims page executing with no records."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transfer_laws.analysis import StudyData
from transfer_laws.claims import (EQUIVALENCE_MARGIN, FAILS, HOLDS, CANT_TELL, Claim, combine, gap_claims,
                                  ossification_claims, source_claims)
from transfer_laws.laws import effective_data, fit_curves, fit_hernandez
from transfer_laws.laws.dt_form import test_power_law as power_law_test
from transfer_laws.synthetic import Noise, Truth, design_runs
from transfer_laws.verdicts import (direction_verdict, equivalence_verdict, rank_verdict, seeds_for_t_interval,
                                    seeds_to_decide, share_verdict, spread_verdict)

REPO = Path(__file__).resolve().parents[1]


# -- the rules ------------------------------------------------------------------------

def test_direction_verdict_follows_the_side_of_zero():
    assert direction_verdict(0.1, 0.5, "positive") == HOLDS
    assert direction_verdict(-0.5, -0.1, "positive") == FAILS
    assert direction_verdict(-0.5, -0.1, "negative") == HOLDS
    assert direction_verdict(0.1, 0.5, "negative") == FAILS
    assert direction_verdict(-0.1, 0.5, "positive") == CANT_TELL
    assert direction_verdict(-math.inf, math.inf, "positive") == CANT_TELL
    assert direction_verdict(math.nan, math.nan, "positive") == CANT_TELL


def test_equality_is_never_read_off_an_interval_that_merely_contains_zero():
    m = 0.1
    assert equivalence_verdict(-0.05, 0.05, m) == HOLDS
    assert equivalence_verdict(-0.5, 0.5, m) == CANT_TELL  # contains 0, but also big differences
    assert equivalence_verdict(0.01, 0.05, m) == FAILS  # excludes 0, however small
    assert equivalence_verdict(-0.05, 0.2, m) == CANT_TELL
    assert equivalence_verdict(-math.inf, math.inf, m) == CANT_TELL


def test_share_verdict_uses_the_exact_interval():
    assert share_verdict(10, 10)[0] == HOLDS  # lower end 0.69
    assert share_verdict(5, 5)[0] == CANT_TELL  # lower end 0.48: five of five is not enough
    assert share_verdict(0, 10)[0] == FAILS
    v, share, lo, hi = share_verdict(4, 6)
    assert v == CANT_TELL and share == pytest.approx(4 / 6) and lo < 0.5 < hi
    assert share_verdict(0, 0)[0] == CANT_TELL


def test_rank_verdict_needs_enough_pairs_and_a_direction():
    assert rank_verdict([1, 2, 3], [3, 2, 1])[0] == CANT_TELL  # a perfect ranking of 3 has p = 1/6
    v, rho, p = rank_verdict([1, 2, 3, 4], [4, 3, 2, 1])
    assert v == HOLDS and rho == pytest.approx(-1) and p == pytest.approx(1 / 24)
    assert rank_verdict([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])[0] == FAILS
    assert rank_verdict([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], expect="negative")[0] == CANT_TELL


def test_spread_verdict_reads_the_intervals_not_the_estimates():
    assert spread_verdict([(0.1, 0.2), (0.5, 0.9)])[0] == HOLDS  # at least 2.5x apart
    assert spread_verdict([(0.1, 0.4), (0.3, 0.9)])[0] == CANT_TELL  # overlapping
    assert spread_verdict([(0.3, 0.4), (0.32, 0.45), (0.35, 0.5)])[0] == FAILS  # all within 1.7x
    assert spread_verdict([(0.3, 0.4), (0.32, 0.45)])[0] == CANT_TELL  # similar, but only 2 pairs
    assert spread_verdict([(0.3, math.inf), (0.0, 0.1)])[0] == CANT_TELL  # unbounded pairs do not count


def test_seeds_to_decide_scales_as_one_over_root_seeds():
    # half-width 0.2 around 0.1 with 3 seeds: (0.2 / 0.1)^2 = 4 times the seeds
    assert seeds_to_decide(0.1, -0.1, 0.3, 3) == pytest.approx(12)
    assert seeds_to_decide(0.0, -0.1, 0.1, 3) == math.inf
    assert seeds_to_decide(0.1, -math.inf, 0.3, 3) == math.inf
    assert seeds_to_decide(0.02, -0.08, 0.12, 3, margin=0.1) == pytest.approx(3 * (0.1 / 0.08) ** 2)
    s = seeds_for_t_interval(0.05, 0.1)
    from scipy.stats import t
    assert t.ppf(0.975, s - 1) * 0.1 / math.sqrt(s) < 0.05 <= t.ppf(0.975, s - 2) * 0.1 / math.sqrt(s - 1)


def test_combine_one_verdict_per_claim():
    def c(v):
        return Claim("power_law", "p", v, "q", 0, 0, 0, "t", "e")

    assert combine([c(HOLDS), c(HOLDS)]) == HOLDS
    assert combine([c(HOLDS), c(CANT_TELL)]) == CANT_TELL
    assert combine([c(HOLDS), c(FAILS), c(CANT_TELL)]) == FAILS
    assert combine([]) == CANT_TELL


# -- each claim's test on synthetic runs -------------------------------------------------

def _study(runs: pd.DataFrame, source: str, target: str = "python", n_boot: int = 0) -> StudyData:
    sd = StudyData(source, target, "cpu", 0, [], runs, main_runs=runs)
    sd.curves = fit_curves(runs)
    sd.ed = effective_data(runs, sd.curves)
    sd.hernandez = fit_hernandez(runs, n_boot=n_boot)
    sd.planned = len(runs)
    return sd


def _curved(runs: pd.DataFrame, truth: Truth, gamma: float) -> pd.DataFrame:
    """The fine-tunes' D_T given a square in ln D_F (noise kept as drawn)."""
    out = runs.copy()
    ft = out["kind"] == "finetune"
    N, D = out.loc[ft, "n_params"].to_numpy(), out.loc[ft, "tokens"].to_numpy()
    noise = out.loc[ft, "loss"].to_numpy() - truth.finetune(N, D)
    c = np.log(D).mean()
    dt = truth.transferred(D, N) * np.exp(gamma * (np.log(D) - c) ** 2)
    out.loc[ft, "loss"] = truth.scratch(N, D + dt) + noise
    return out


def test_power_law_test_finds_curvature_that_is_there_and_none_that_is_not():
    truth = Truth()
    plain = power_law_test(design_runs(truth, seed=1))  # 30 draws: 1 (D_F) and 2 (N) exclude 0
    ci = plain.conf_int()
    assert ci.loc["drift_D_F", 0] < 0 < ci.loc["drift_D_F", 1]
    assert ci.loc["drift_N", 0] < 0 < ci.loc["drift_N", 1]
    curved = power_law_test(_curved(design_runs(truth, seed=1), truth, gamma=0.4))
    assert curved.conf_int().loc["drift_D_F", 0] > 0  # the local α rises across the D_F range
    assert curved.params["gamma_D_F"] == pytest.approx(0.4, abs=0.2)


def test_alpha_order_is_found_and_the_missing_source_is_named():
    quiet = Noise(run=0.01, small=0.02, eval=0.002, cluster=0.01, cluster_scratch=0.003)
    far = design_runs(Truth(alpha=0.35), noise=quiet, seed=1, source="english", target="python")
    close = design_runs(Truth(alpha=0.1, k=Truth().k * 2048 ** 0.25), noise=quiet, seed=1,
                        source="english+code", target="python")
    studies = {("english", "python"): _study(far, "english"), ("english+code", "python"): _study(close, "english+code")}
    claims = {(c.key, c.pair): c for c in source_claims(studies)}
    alpha = claims[("alpha_closer", "english vs english+code → python")]
    assert alpha.verdict == HOLDS and alpha.low > 0
    assert alpha.estimate == pytest.approx(0.25, abs=0.1)
    beta = claims[("beta_source", "english vs english+code → python")]
    assert beta.verdict != FAILS and beta.low < 0 < beta.high
    missing = claims[("alpha_closer", "english vs code → python")]
    assert missing.verdict == CANT_TELL and "code → python (no study in the book)" in missing.decide


def test_ossification_is_measured_at_the_smallest_size_and_largest_d_f():
    truth = Truth()
    runs = design_runs(truth, seed=2)
    sd = _study(runs, "english")
    (c,) = ossification_claims(sd, "00-x")
    n0, d = runs["n_params"].min(), runs.loc[runs["kind"] == "finetune", "tokens"].max()
    assert f"N = {n0:,.0f}, D_F = {d:,.0f} (3 seeds)" in c.quantity
    # synthetic fine-tunes gain D_T at every D_F: the pre-trained model ends below scratch, in the low-data regime
    assert c.estimate < 0 and c.verdict in (CANT_TELL,)
    one_seed = _study(runs[runs["seed"] == 0].reset_index(drop=True), "english")
    assert ossification_claims(one_seed, "00-x")[0].verdict == CANT_TELL
    assert "2 or more seeds" in ossification_claims(one_seed, "00-x")[0].decide


def test_gap_claims_count_only_bounded_pairs():
    def row(pair, lo, g, hi, bounded, n=6592.0):
        return {"pair": pair, "source": pair, "target": "t", "N": n, "G": g, "G_low": lo, "G_high": hi,
                "bounded": bounded}

    none = pd.DataFrame([row("a", 0.0, 1.0, math.inf, False)])
    spread, worth = gap_claims(none, {})
    assert spread.verdict == worth.verdict == CANT_TELL and "0 bounded" in spread.decide
    two = pd.DataFrame([row("a", 0.1, 0.15, 0.2, True), row("b", 0.5, 0.7, 0.9, True),
                        row("c", 0.0, 0.01, math.inf, False)])
    spread, worth = gap_claims(two, {})
    assert spread.verdict == HOLDS and spread.estimate == pytest.approx(2.5)
    assert worth.verdict == CANT_TELL and "at least 4" in worth.decide


# -- the page ---------------------------------------------------------------------------

def test_claims_page_executes_without_records_and_says_what_is_missing(fixture_data, tmp_path):
    import json

    import nbformat

    from transfer_laws.book import execute

    out = tmp_path / "claims.ipynb"
    execute(REPO / "notebooks" / "claims.py", out,
            {"results": str(tmp_path), "data_dir": str(fixture_data),
             "studies": json.dumps([{"source": "tinyprose", "target": "tinypy", "profile": "smoke"}])}, cwd=tmp_path)
    text = json.dumps(nbformat.read(out, as_version=4))
    assert "can't tell" in text and "no fine-tuned runs yet" in text
    assert EQUIVALENCE_MARGIN == pytest.approx(0.084)


# -- the precision outlook of Table 1 ---------------------------------------------------

def test_width_outlook_shrinks_with_seeds_and_names_the_seeds_for_the_target():
    from transfer_laws.precision import lever_arm, seed_noise, width_outlook
    from transfer_laws.study import load_profile

    runs = design_runs(Truth(), seed=1)
    fit = fit_hernandez(runs, n_boot=0)
    w = width_outlook(fit, runs).set_index("exponent")
    for name in ("alpha", "beta"):
        r = w.loc[name]
        assert r["width at 3 seeds"] > r["width at 5 seeds"] > r["width at 10 seeds"]
        # at the seeds the runs have, the projection is about the measured interval
        assert r["width at 3 seeds"] == pytest.approx(r["width"], rel=0.5)
        assert r["meets target"] == (r["width"] <= 0.3)
    noise = seed_noise(runs)
    assert set(noise["kind"]) == {"scratch", "finetune"} and (noise["seeds"] == 3).all()
    big = noise[noise["N"] > noise["N"].min()]
    assert np.sqrt(np.mean(big["sigma"] ** 2)) == pytest.approx(Noise().run, rel=0.3)  # the truth's run noise
    arm = lever_arm(load_profile("cpu"), load_profile("gpu"))
    assert arm["beta"] > 1 and arm["alpha"] > 1  # the gpu design spans more of ln N and ln D_F
