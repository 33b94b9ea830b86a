"""Table 1 at two fine-tuning LRs: the paired loss change, the seeds' shared offsets and the change of the constants."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from transfer_laws.errors import InputError
from transfer_laws.lr_sensitivity import between_sources, compare_lrs, constant_changes, loss_change, offset_correlation
from transfer_laws.synthetic import Truth, design_runs


def _finetunes(shift_by_seed=None, offsets=None, seeds=(0, 1, 2), sizes=(1e4, 1e5)):
    shift_by_seed, offsets = shift_by_seed or {}, offsets or {}
    rows = [{"n_params": n, "tokens": f, "seed": s, "lr": 3e-3, "phase": "stable",
             "loss": (5.0 - 0.1 * np.log(f) + shift_by_seed.get(s, 0.0) * (f > 3000)) * np.exp(offsets.get((n, s), 0.0))}
            for n in sizes for f in (2048.0, 8192.0) for s in seeds]
    return pd.DataFrame(rows)


def test_the_loss_change_is_paired_and_its_interval_is_over_the_seeds():
    base = _finetunes()
    other = _finetunes({0: -0.05, 1: -0.07, 2: -0.09}).iloc[:-1]  # one run missing: not paired
    ch = loss_change(base, other).set_index("D_F")
    assert ch.loc[2048.0, "change"] == pytest.approx(0.0) and ch.loc[2048.0, "runs"] == 6
    assert ch.loc[8192.0, "runs"] == 5
    assert ch.loc[8192.0, "change"] == pytest.approx(-0.07)
    se = 0.02 / np.sqrt(3)
    assert ch.loc[8192.0, "se"] == pytest.approx(se)
    assert ch.loc[8192.0, "high"] == pytest.approx(-0.07 + stats.t.ppf(0.975, 2) * se)  # t on 2 df, not 1.96
    assert ch.loc[8192.0, "by seed"] == "-0.050, -0.070, -0.090"


def test_offsets_a_seed_keeps_across_lrs_correlate_and_fresh_ones_do_not():
    rng = np.random.default_rng(3)
    sizes = tuple(np.geomspace(1e4, 1e6, 20))
    keys = [(n, s) for n in sizes for s in range(3)]
    shared = {k: v for k, v in zip(keys, rng.normal(0, 0.03, len(keys)))}
    fresh = {k: v for k, v in zip(keys, rng.normal(0, 0.03, len(keys)))}
    base = _finetunes(offsets=shared, sizes=sizes)
    assert offset_correlation(base, _finetunes(offsets=shared, sizes=sizes)) == pytest.approx(1.0)
    assert abs(offset_correlation(base, _finetunes(offsets=fresh, sizes=sizes))) < 0.5


def test_a_change_of_alpha_between_lrs_is_found_and_an_unchanged_beta_is_not():
    base = design_runs(Truth(), seed=31, source="s")
    other = design_runs(Truth(alpha=0.35), seed=32, source="s")
    d = constant_changes(base, other, "LR a", "LR b")
    ci = d.conf_int()
    assert ci.loc["alpha_diff", 0] > 0 and ci.loc["alpha_diff", 0] <= 0.15 <= ci.loc["alpha_diff", 1]
    assert ci.loc["beta_diff", 0] <= 0 <= ci.loc["beta_diff", 1]
    # other's own from-scratch runs are dropped: the fit reads base's once, and both fine-tune sets
    assert d.info["n_runs"] == len(base) + int((other["kind"] == "finetune").sum())


def _study(runs, lr, scratch_tag="", profile="p", source="s", checkpoint="c"):
    records = [{"config": {"kind": "scratch", "tokens": float(r.tokens), "n_target": float(r.n_params),
                           "seed": int(r.seed), "tag": scratch_tag}} for r in runs[runs["kind"] == "scratch"].itertuples()]
    records += [{"config": {"kind": "finetune", "tokens": float(r.tokens), "n_target": float(r.n_params),
                            "pretrain_tokens": 1.0, "seed": int(r.seed), "train": {"lr": lr},
                            "pretrain_id": f"{checkpoint}-{r.n_params}-{r.seed}"},
                 "result": {"n_params": float(r.n_params), "loss": float(r.loss),
                            "best_phase": "warmup" if r.tokens == runs["tokens"].min() else "stable"}}
                for r in runs[runs["kind"] == "finetune"].itertuples()]
    return SimpleNamespace(source=source, target="t", profile=profile, main_runs=runs, records=records, main_p=1.0,
                           seeds=tuple(sorted(runs["seed"].unique())))


def test_two_lrs_of_one_design_are_read_as_the_profile_says():
    # the draw of the constant_changes test above (β's 95% interval covers its true change, 0)
    base = design_runs(Truth(), seed=31, source="s")
    other = design_runs(Truth(alpha=0.35), seed=32, source="s")
    other = pd.concat([base[base["kind"] == "scratch"], other[other["kind"] == "finetune"]], ignore_index=True)
    c = compare_lrs(_study(base, 3e-3), _study(other, 3e-4))
    assert c.lrs == (3e-3, 3e-4)
    readings = c.readings().set_index("exponent")
    assert readings.loc["α", "reading"] == "moves" and readings.loc["α", "low"] > 0
    assert readings.loc["β", "reading"] == "can't tell"
    k = c.constants()
    assert list(k["fine-tuning LR"]) == [3e-3, 3e-4] and (k["alpha_low"] < k["alpha"]).all()
    assert k.loc[1, "alpha"] > k.loc[0, "alpha"]
    assert all(np.isfinite(c.dispersions())) and len(c.joint_constants()) == 2
    assert (c.warmup[0] > 0).any() and set(c.losses["D_F"]) == set(base.loc[base["kind"] == "finetune", "tokens"])


def test_studies_that_cannot_be_compared_say_why():
    runs = design_runs(Truth(), seed=41, source="s")
    with pytest.raises(InputError, match="from-scratch runs differ"):
        compare_lrs(_study(runs, 3e-3), _study(runs, 3e-4, scratch_tag="another run"))
    with pytest.raises(InputError, match="both studies fine-tune at LR 0.003"):
        compare_lrs(_study(runs, 3e-3), _study(runs, 3e-3))
    with pytest.raises(InputError, match="start from different pre-training runs"):
        compare_lrs(_study(runs, 3e-3), _study(runs, 3e-4, checkpoint="another pass"))
    mixed = _study(runs, 3e-4)
    mixed.records[-1]["config"]["train"]["lr"] = 1e-4
    with pytest.raises(InputError, match="LRs 0.0001, 0.0003"):
        compare_lrs(_study(runs, 3e-3), mixed)


def test_two_sources_at_one_lr_are_compared_on_their_shared_from_scratch_runs():
    a = design_runs(Truth(), seed=51, source="a")
    b = design_runs(Truth(alpha=0.35), seed=52, source="b")
    b = pd.concat([a[a["kind"] == "scratch"], b[b["kind"] == "finetune"]], ignore_index=True)
    d = between_sources(_study(a, 3e-4, source="a"), _study(b, 3e-4, source="b"))
    assert d.conf_int().loc["alpha_diff", 1] < 0  # a's α is the smaller
    with pytest.raises(InputError, match="from-scratch runs differ"):
        between_sources(_study(a, 3e-4, source="a"), _study(b, 3e-4, scratch_tag="other", source="b"))


def test_the_exponents_figure_keeps_its_title():
    from transfer_laws.figures import exponents_by_pair

    table = pd.DataFrame([{"pair": "a", "ours": True, "alpha": 0.1, "alpha_low": 0.0, "alpha_high": 0.2,
                           "beta": 0.4, "beta_low": 0.3, "beta_high": 0.5}])
    spec = exponents_by_pair(table, "α and β at two fine-tuning LRs").to_dict()
    assert spec["title"] == "α and β at two fine-tuning LRs"
    assert [p["layer"][1]["encoding"]["x"]["title"] for p in spec["hconcat"]] == ["α (D_F exponent)", "β (N exponent)"]


def test_the_table1_claims_are_tested_at_one_lr_as_the_claims_page_tests_them():
    # english's α above english+code's by 0.2, β the same: the α order holds; a source
    # pair of claims.CLOSER with no study here (english vs code) is not reported
    from transfer_laws.lr_sensitivity import source_claims_at_lr

    far = design_runs(Truth(alpha=0.35), seed=43, source="english", target="python")
    close = design_runs(Truth(alpha=0.15), seed=44, source="english+code", target="python")
    close = pd.concat([far[far["kind"] == "scratch"], close[close["kind"] == "finetune"]], ignore_index=True)
    studies = []
    for src, runs in (("english", far), ("english+code", close)):
        sd = _study(runs, 3e-4, source=src)
        sd.target, sd.hernandez, sd.missing, sd.planned, sd.main_complete = "python", None, {}, len(runs), True
        studies.append(sd)
    summary, detail = source_claims_at_lr(studies)
    rows = detail.set_index("key")
    assert set(rows["pair"]) == {"english vs english+code → python"}
    assert rows.loc["alpha_closer", "verdict"] == "holds"
    assert rows.loc["alpha_closer", "low"] > 0
    # β's interval covers the true 0 but is wider than the equality margin: can't tell
    assert rows.loc["beta_source", "low"] <= 0 <= rows.loc["beta_source", "high"]
    assert rows.loc["beta_source", "verdict"] == "can't tell"
    assert all(sd.hernandez is not None for sd in studies)  # fitted once, kept on the study
    assert summary.set_index("claim")["verdict"].to_dict() == {c: v for c, v in zip(detail["claim"], detail["verdict"])}
    # two LRs at once are refused, and so is one pair twice
    with pytest.raises(InputError, match="one LR at a time"):
        source_claims_at_lr([studies[0], _study(far, 3e-3, source="code")])
    with pytest.raises(InputError, match="given twice"):
        source_claims_at_lr([studies[0], studies[0]])


def test_a_learning_rate_is_labelled_as_the_profiles_write_it():
    from transfer_laws.lr_sensitivity import lr_label

    assert [lr_label(v) for v in (3e-3, 3e-4, 1e-3, 2.5e-4, 1.0)] == ["3e-3", "3e-4", "1e-3", "2.5e-4", "1e0"]
