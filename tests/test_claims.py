"""The claim verdicts: the rules on made-up numbers, each claim's test on synthetic
runs whose truth is known, and the claims page executing with no records."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transfer_laws.analysis import StudyData
from transfer_laws.claims import (EQUIVALENCE_MARGIN, FAILS, HOLDS, CANT_TELL, Claim, combine, compute_claims,
                                  correct_for_tests, design_gap_size, fit_problems, gap_claims, log_ratio_interval,
                                  ossification_claims, power_law_claims, profile_ends, source_claims)
from transfer_laws.laws import effective_data, fit_curves, fit_hernandez
from transfer_laws.laws.dt_form import test_power_law as power_law_test
from transfer_laws.synthetic import Noise, Truth, design_runs
from transfer_laws.verdicts import (differs_from_zero, direction_verdict, equivalence_verdict, rank_verdict,
                                    rank_verdict_over_intervals, seeds_for_t_interval, seeds_to_decide, share_verdict,
                                    sign_test_verdict, spearman_exact, spread_verdict)

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
    assert equivalence_verdict(-0.05, 0.2, m) == CANT_TELL
    assert equivalence_verdict(-math.inf, math.inf, m) == CANT_TELL


def test_a_difference_inside_the_margin_holds_and_only_one_beyond_it_fails():
    m = 0.084
    assert equivalence_verdict(0.01, 0.05, m) == HOLDS  # excludes 0, but every value in it is "equal"
    assert differs_from_zero(0.01, 0.05)
    assert equivalence_verdict(0.1, 0.3, m) == FAILS  # entirely beyond the margin
    assert equivalence_verdict(-0.3, -0.09, m) == FAILS
    assert equivalence_verdict(0.05, 0.3, m) == CANT_TELL  # differs from 0, straddles the margin
    assert differs_from_zero(0.05, 0.3) and not differs_from_zero(-0.01, 0.3)


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


def test_spread_verdict_reads_the_intervals_of_the_ratios():
    w = math.log(2)
    assert spread_verdict([(w + 0.1, w + 1)], [(w + 0.2, w + 0.9)], 2)[0] == HOLDS  # at least 2.2x apart
    assert spread_verdict([(-0.5, w + 1)], [(-0.4, w + 0.9)], 2)[0] == CANT_TELL  # the ratio may be 1
    inside = [(-0.3, 0.4), (-0.2, 0.5), (-0.4, 0.3)]
    assert spread_verdict(inside, inside, 3)[0] == FAILS  # every ratio within 2x
    assert spread_verdict(inside[:1], inside[:1], 2)[0] == CANT_TELL  # similar, but only 2 pairs
    assert spread_verdict([(-math.inf, 0.3)] * 3, [(-math.inf, 0.2)] * 3, 3)[0] == CANT_TELL  # unbounded: no fail


def _quadratic_profile(lo: float, hi: float, open_lo: bool = False, open_hi: bool = False) -> pd.DataFrame:
    """A G profile on the χ²₁ scale whose 95% interval is [lo, hi] (an open end: flat there)."""
    v = np.geomspace(1e-4, 1e2, 200)
    c, w = (np.log(lo) + np.log(hi)) / 2, (np.log(hi) - np.log(lo)) / 2
    z = (np.log(v) - c) / w
    z = np.where(open_lo & (z < 0), 0, np.where(open_hi & (z > 0), 0, z))
    return pd.DataFrame({"value": v, "stat": 3.841 * z ** 2})


def test_the_ratio_interval_adds_the_two_profiles():
    a, b = _quadratic_profile(0.5, 2.0), _quadratic_profile(0.5, 2.0)
    lo, hi = log_ratio_interval(a, b, 0.95)  # two equal quadratics: √2 times the one-fit half-width
    assert lo == pytest.approx(-math.sqrt(2) * math.log(2), abs=0.05) and hi == pytest.approx(-lo, abs=0.05)
    open_a = _quadratic_profile(0.3, 1.2, open_hi=True)
    assert log_ratio_interval(open_a, b, 0.95)[1] == math.inf


def test_profile_ends_interpolate_and_extend_the_signed_root():
    v = np.linspace(-1, 1, 9)
    table = pd.DataFrame({"value": v, "deviance_rise": 4.0 * v ** 2})  # signed root 2v
    lo, hi = profile_ends(table, 0.0, 1.0)
    assert (lo, hi) == (pytest.approx(-0.5), pytest.approx(0.5))
    lo, hi = profile_ends(table, 0.0, 16.0)  # beyond the walked points: extended linearly
    assert (lo, hi) == (pytest.approx(-2.0), pytest.approx(2.0))


def test_rank_over_intervals_holds_only_if_every_allowed_ordering_does():
    y = [4, 3, 2, 1]
    apart = [(0.1, 0.2), (0.3, 0.4), (0.5, 0.6), (0.7, 0.8)]
    assert rank_verdict_over_intervals(apart, y)[0] == HOLDS
    overlapping = [(0.1, 0.45), (0.3, 0.4), (0.5, 0.6), (0.7, math.inf)]  # the first two may swap
    v, rho_lo, rho_hi, p = rank_verdict_over_intervals(overlapping, y)
    assert v == CANT_TELL and rho_hi > rho_lo == pytest.approx(-1) and p > 0.05


def test_spearman_gives_ties_mid_ranks():
    from scipy.stats import spearmanr
    x, y = [1, 1, 2, 3, 4], [5, 3, 4, 2, 1]
    assert spearman_exact(x, y)[0] == pytest.approx(spearmanr(x, y)[0])


def test_sign_test_counts_units_not_runs():
    assert sign_test_verdict(5, 5)[0] == HOLDS  # p = 1/32
    assert sign_test_verdict(3, 3)[0] == CANT_TELL  # p = 1/8
    assert sign_test_verdict(0, 5)[0] == FAILS


def test_combine_one_verdict_per_claim():
    def c(v):
        return Claim("power_law", "p", v, "q", 0, 0, 0, "t", "e")

    assert combine([c(HOLDS), c(HOLDS)]) == HOLDS
    assert combine([c(HOLDS), c(CANT_TELL)]) == CANT_TELL
    assert combine([c(HOLDS), c(FAILS), c(CANT_TELL)]) == FAILS
    assert combine([]) == CANT_TELL


def test_a_fail_among_many_pairs_is_read_at_the_bonferroni_level():
    def c(v, lo, hi, lo_m, hi_m):
        rule = lambda a, b: equivalence_verdict(a, b, 0.084)  # noqa: E731
        return Claim("power_law", "p", v, "q", (lo + hi) / 2, lo, hi, "t", "e",
                     recheck=lambda level: (rule(lo_m, hi_m), lo_m, hi_m))

    # fails at 95% (beyond the margin), but at 1 − 0.05/4 the interval reaches inside it
    claims = [c(FAILS, 0.1, 0.3, 0.05, 0.35)] + [c(CANT_TELL, -0.1, 0.2, -0.2, 0.3) for _ in range(3)]
    correct_for_tests(claims)
    assert claims[0].verdict == CANT_TELL and claims[0].tests == 4 and "Bonferroni" in claims[0].decide
    assert combine(claims) == CANT_TELL
    strong = [c(FAILS, 0.3, 0.5, 0.2, 0.6)] + [c(CANT_TELL, -0.1, 0.2, -0.2, 0.3) for _ in range(3)]
    assert combine(correct_for_tests(strong)) == FAILS


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
    studies = {("english", "python", "cpu"): _study(far, "english"),
               ("english+code", "python", "cpu"): _study(close, "english+code")}
    claims = {(c.key, c.pair): c for c in source_claims(studies)}
    alpha = claims[("alpha_closer", "english vs english+code → python")]
    assert alpha.verdict == HOLDS and alpha.low > 0
    assert alpha.estimate == pytest.approx(0.25, abs=0.1)
    beta = claims[("beta_source", "english vs english+code → python")]
    assert beta.verdict != FAILS and beta.low < 0 < beta.high
    missing = claims[("alpha_closer_more", "english vs code → python")]  # beyond the paper: an extension
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


def test_no_verdict_from_a_fit_that_did_not_converge():
    # no measurable transfer: D_T is driven to 0 and its exponent to the clip; the drift's
    # interval is then beyond the margin or unbounded, and neither may become a verdict
    runs = design_runs(Truth(k=Truth().k * 1e-12), seed=1)
    sd = _study(runs, "english")
    fit = power_law_test(runs)
    lo, hi = fit.conf_int().loc["drift_D_F"]
    assert hi < -EQUIVALENCE_MARGIN or not (np.isfinite(lo) and np.isfinite(hi))
    problems = fit_problems(sd.hernandez, fit)
    assert any("clip" in p for p in problems) and any("unbounded" in p for p in problems)
    claims = power_law_claims(sd, "00-x")
    assert all(c.verdict == CANT_TELL for c in claims)
    assert all("did not converge" in c.decide and "clip" in c.decide for c in claims)
    # the same guard on the Table 1 comparison
    good = _study(design_runs(Truth(), seed=1, source="english+code", target="python"), "english+code")
    out = {(c.key, c.pair): c for c in source_claims({("english", "python", "cpu"): _study(
        design_runs(Truth(k=Truth().k * 1e-12), seed=1, source="english", target="python"), "english"),
        ("english+code", "python", "cpu"): good})}
    c = out[("beta_source", "english vs english+code → python")]
    assert c.verdict == CANT_TELL and "did not converge" in c.decide and "english → python" in c.decide


def test_a_fit_that_returned_its_start_values_is_named():
    class Fit:
        params = pd.Series({"k": 1.0, "alpha": 0.6, "beta": 0.5})

        def conf_int(self):
            return pd.DataFrame({0: [0.1, 0.4, 0.3], 1: [10.0, 0.8, 0.7]}, index=["k", "alpha", "beta"])

    assert any("start values" in p for p in fit_problems(Fit()))


class _Curve:
    method = "power_law"

    def __init__(self, d_sat):
        self.d_sat = d_sat

    def data_to_saturate(self):
        return self.d_sat


def _ossification_study(d_sat: float, scratch_top: float, censored_scratch: bool = False) -> StudyData:
    rows = []
    for seed, e in enumerate((0.0, 0.01, -0.01)):
        rows.append(("finetune", 1000.0, 1e5, 4e6, 3.0 + e, "a", "t", seed, "early_stop"))
        rows.append(("scratch", 1000.0, 1e5, np.nan, 2.9 + e / 2, "", "t", seed,
                     "budget" if censored_scratch and seed == 0 else "early_stop"))
        rows.append(("scratch", 1000.0, scratch_top, np.nan, 2.8, "", "t", seed, "early_stop"))
    runs = pd.DataFrame(rows, columns=["kind", "n_params", "tokens", "pretrain_tokens", "loss", "source", "target",
                                       "seed", "stopped"])
    sd = StudyData("a", "t", "cpu", 0, [], runs, main_runs=runs)
    sd.curves = {1000.0: _Curve(d_sat)}
    return sd


def test_ossification_needs_the_high_data_regime_to_hold_too():
    (c,) = ossification_claims(_ossification_study(d_sat=5e5, scratch_top=1e6), "00-x")  # D_F = 0.2·D(N)
    assert c.verdict == HOLDS and c.estimate == pytest.approx(0.1)
    (c,) = ossification_claims(_ossification_study(d_sat=5e6, scratch_top=6e6), "00-x")  # D_F = 0.02·D(N)
    assert c.verdict == CANT_TELL and "low-data" in c.decide and "negative transfer" in c.decide
    (c,) = ossification_claims(_ossification_study(d_sat=1e9, scratch_top=2e5), "00-x")  # D(N) extrapolated
    assert c.verdict == CANT_TELL and "not known" in c.decide
    (c,) = ossification_claims(_ossification_study(d_sat=5e5, scratch_top=1e6, censored_scratch=True), "00-x")
    assert c.verdict == HOLDS and c.high == math.inf and "one-sided" in c.quantity  # a lower bound still counts


def _compute_records(sizes, seeds, fine_flops=1.0):
    out = []
    for n in sizes:
        for s in seeds:
            for kind, curve in (("scratch", [{"flops": 10.0, "val_loss": 3.0}]),
                                ("finetune", [{"flops": fine_flops, "val_loss": 2.9}])):
                out.append({"config": {"kind": kind, "tokens": 1000, "seed": s, "pretrain_tokens": 4e6},
                            "result": {"n_params": n}, "curve": curve})
    return out


def test_the_compute_claim_counts_model_sizes_not_seeds():
    def study(records):
        runs = pd.DataFrame({"kind": ["finetune"], "pretrain_tokens": [4e6]})
        return StudyData("a", "t", "cpu", 0, records, runs, main_runs=runs)

    # 15 (N, seed), all cheaper: as independent runs it would hold; as 3 sizes the sign test has p = 1/8
    (c,), _ = compute_claims(study(_compute_records([1, 2, 3], range(5))), "00-x")
    assert c.verdict == CANT_TELL and "3 sizes" in c.quantity
    (c,), _ = compute_claims(study(_compute_records([1, 2, 3, 4, 5], range(2))), "00-x")
    assert c.verdict == HOLDS
    broken = _compute_records([1], [0])
    broken[0]["curve"] = [{"flops": 0, "val_loss": 3.0}]  # no compute recorded: left out, no crash
    (c,), table = compute_claims(study(broken), "00-x")
    assert c.verdict == CANT_TELL and table.empty


def test_gap_claims_use_every_fitted_pair_at_the_design_size():
    def row(pair, lo, g, hi, open_lo=False, open_hi=False, n=6592.0):
        return {"pair": pair, "source": pair, "target": "t", "profile": "cpu", "N": n, "runs": 10, "G": g,
                "G_low": 0.0 if open_lo else lo, "G_high": math.inf if open_hi else hi,
                "bounded": not (open_lo or open_hi), "beta": 0.0, "f_values": (2048.0, 8192.0),
                "G_profile": _quadratic_profile(lo, hi, open_lo, open_hi)}

    # one pair bounded below only, one above only: together they prove a ratio of at least 3
    gaps = pd.DataFrame([row("a", 0.3, 0.6, 1.2, open_hi=True), row("b", 0.025, 0.05, 0.1, open_lo=True)])
    spread, worth = gap_claims(gaps, {}, size=6592.0)
    assert spread.verdict == HOLDS and spread.low > 3 and "2 pair(s)" in spread.pair
    assert worth.verdict == CANT_TELL and "at least 4" in worth.decide
    # G in loss·tokens^β: with β_a = 0.5 the two compare at f_ref = 4096 as G·f^−β, not as G
    gaps.loc[0, "beta"] = 0.5
    spread, _ = gap_claims(gaps, {}, size=6592.0)
    assert spread.verdict == CANT_TELL and "4,096" in spread.quantity
    # the size comes from the design (the profile's shared p-grid size), not from the fits
    sd = StudyData("a", "t", "cpu", 0, [{"config": {"n_target": 25000}, "result": {"n_params": 123.0}},
                                        {"config": {"n_target": 6000}, "result": {"n_params": 45.0}}], pd.DataFrame())
    assert design_gap_size({("a", "t", "cpu"): sd}) == 123.0
    assert gap_claims(gaps, {}, size=None)[0].verdict == CANT_TELL
    # a pair whose planned runs at the size are not all recorded is not read yet
    gaps.loc[0, "beta"] = 0.0
    gaps["complete"] = [True, False]
    spread, _ = gap_claims(gaps, {}, size=6592.0)
    assert spread.verdict == CANT_TELL and "1 pair(s)" in spread.pair and "1 more not read" in spread.pair


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


def test_claims_page_executes_with_no_studies_and_prints_every_rule(fixture_data, tmp_path):
    import json

    import nbformat

    from transfer_laws.book import execute
    from transfer_laws.claims import RULES

    out = tmp_path / "claims.ipynb"
    execute(REPO / "notebooks" / "claims.py", out, {"results": str(tmp_path), "data_dir": str(fixture_data),
                                                     "studies": "[]"}, cwd=tmp_path)
    text = json.dumps(nbformat.read(out, as_version=4), ensure_ascii=False)
    assert "No study in the book yet" in text
    assert all(json.dumps(RULES[k], ensure_ascii=False)[1:40] in text for k in ("power_law", "ossification"))


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
        # anchored on the measured width: at the seeds the runs have, the projection is it
        assert r["projected at seeds now"] == pytest.approx(r["width"])
        assert r["width at 3 seeds"] == pytest.approx(r["width"])
        assert r["meets target"] == (r["width"] <= 0.3)
    noise = seed_noise(runs)
    assert set(noise["kind"]) == {"scratch", "finetune"} and (noise["seeds"] == 3).all()
    big = noise[noise["N"] > noise["N"].min()]
    assert np.sqrt(np.mean(big["sigma"] ** 2)) == pytest.approx(Noise().run, rel=0.3)  # the truth's run noise
    arm = lever_arm(load_profile("cpu"), load_profile("gpu"))
    assert arm["beta"] > 1 and arm["alpha"] > 1  # the gpu design spans more of ln N and ln D_F


def test_width_outlook_gives_no_seed_count_where_seeds_cannot_help():
    from transfer_laws.precision import width_outlook

    runs = design_runs(Truth(), seed=1)

    class Fit:
        params = pd.Series({"alpha": 0.2, "beta": 0.4})

        def __init__(self, phi, beta_high):
            self.info = {"dispersion": phi}
            self.beta_high = beta_high

        def conf_int(self):
            return pd.DataFrame({0: [0.0, 0.1], 1: [0.5, self.beta_high]}, index=["alpha", "beta"])

    w = width_outlook(Fit(1.0, math.inf), runs).set_index("exponent")
    assert w.loc["beta", "seeds for target"] == math.inf and np.isnan(w.loc["beta", "width at 10 seeds"])
    assert np.isfinite(w.loc["alpha", "seeds for target"])  # bounded, noise-limited: a count
    w = width_outlook(Fit(10.5, 0.9), runs).set_index("exponent")  # φ = 10.5: lack of fit sets the width
    assert w["limited by lack of fit"].all() and (w["seeds for target"] == math.inf).all()


def test_the_target_lines_say_met_a_seed_count_or_why_there_is_none():
    from transfer_laws.precision import target_lines

    def row(exponent, width, limited=False, need=math.inf):
        return {"exponent": exponent, "width": width, "meets target": bool(np.isfinite(width) and width <= 0.3),
                "seeds now": 3.0, "projected at seeds now": width, "dispersion": 3.0 if limited else 1.0,
                "limited by lack of fit": limited, "seeds for target": need}

    met, counted = target_lines("a → b", pd.DataFrame([row("alpha", 0.21), row("beta", 0.34, need=4)]),
                                {"alpha": 2.0, "beta": 3.0})
    assert "α" in met and "target met" in met and "gpu" not in met
    assert "β" in counted and "target not met" in counted and "about 4 seeds" in counted and "3×" in counted
    unbounded, misfit = target_lines("a → b", pd.DataFrame([row("alpha", math.inf), row("beta", 0.5, limited=True)]))
    assert "unbounded" in unbounded and "no seed count" in unbounded
    assert "lack of fit" in misfit and "seeds per point would" not in misfit and "gpu" not in misfit


def test_a_fit_that_cannot_be_judged_says_what_would_settle_it_for_a_complete_study_too():
    from transfer_laws.claims import _cannot_judge

    partial, complete = _cannot_judge(["α at the clip"]), _cannot_judge(["α at the clip"], complete=True)
    assert "remaining seeds and sizes" in partial and "α at the clip" in partial
    assert "remaining" not in complete and "study is complete" in complete


def test_table_1_is_complete_when_its_seeds_are_whatever_the_grid_seeds_lack():
    sd = StudyData("a", "t", "cpu", 3, [], pd.DataFrame(), seeds=(0, 1, 2),
                   unrecorded=[{"kind": "finetune", "seed": 9, "n_target": 25000}])
    assert sd.main_complete
    sd.unrecorded.append({"kind": "scratch", "seed": 1, "n_target": 6000})
    assert not sd.main_complete


def test_the_hernandez_chapters_draw_the_main_p_and_the_profiles_seeds_only():
    def rec(kind, seed, p=None):
        return {"config": {"kind": kind, "seed": seed, **({"pretrain_tokens": p} if p else {})}}

    keep = [rec("scratch", 0), rec("finetune", 1, 4194304)]
    drop = [rec("finetune", 9, 4194304), rec("finetune", 1, 32768), rec("pretrain", 0), rec("scratch", 9)]
    sd = StudyData("a", "t", "cpu", 6, keep + drop, pd.DataFrame(), seeds=(0, 1, 2), main_p=4194304.0)
    assert sd.main_records == keep
