import shutil

import numpy as np
import pytest
import torch

from transfer_laws import study as study_mod
from transfer_laws.cli import main
from transfer_laws.data import DataError, DataStore
from transfer_laws.errors import InputError
from transfer_laws.model import ModelShape, build_model, count_non_embedding, flops_per_token, shape_for
from transfer_laws.records import CorruptRecordError, load_records, run_id
from transfer_laws.runs import checkpoint_path, finetune_checkpoint, loss_of_checkpoint
from transfer_laws.study import Study
from transfer_laws.train import TrainConfig, cooldown_steps, first_eval, train


def test_interrupted_sweep_resumes_without_rewriting(smoke_results):
    results, before, summary, study = smoke_results
    assert len(before) == 5
    assert summary["skipped"] == 5 and summary["failed"] == 0 and summary["remaining"] == 0
    for p, (mtime, content) in before.items():
        assert p.stat().st_mtime_ns == mtime and p.read_bytes() == content
    assert summary["done"] + 5 == len(study.configs()) == len(load_records(results))
    again = study.sweep()
    assert again["done"] == 0 and again["skipped"] == len(study.configs())


def test_finetune_starts_from_pretrained_weights(smoke_results, fixture_data):
    results, *_ = smoke_results
    recs = load_records(results)
    ft = next(r for r in recs if r["config"]["kind"] == "finetune")
    pre = ft["config"]["pretrain"]
    ckpt = finetune_checkpoint(results, ft["config"])
    loss = loss_of_checkpoint(ckpt, pre, "tinypy", data_dir=str(fixture_data), eval_tokens=ft["result"]["stop_tokens"])
    assert loss == pytest.approx(ft["result"]["initial_loss"], rel=1e-5)
    scratch_init = next(r for r in recs if r["config"]["kind"] == "scratch")["result"]["initial_loss"]
    assert ft["result"]["initial_loss"] < scratch_init - 0.05  # pre-trained, not random


def test_records_carry_provenance_and_curves(smoke_results):
    results, *_ = smoke_results
    recs = load_records(results)
    for rec in recs:
        for key in ("git_commit", "torch", "transformers", "hardware", "seed", "wall_s", "tokens_per_s"):
            assert key in rec["provenance"]
        assert {"tokens", "flops", "val_loss", "phase"} <= set(rec["curve"][0])
    for rec in (r for r in recs if r["config"]["kind"] != "pretrain"):
        res, trained = rec["result"], [p for p in rec["curve"] if p["phase"] != "init"]
        # the kept checkpoint is the best on the stopping set, after warm-up; the loss is the test set's
        assert res["stop_loss"] == min(p["val_loss"] for p in trained)
        assert res["stopped"] in ("early_stop", "budget")
        assert {"stable", "cooldown"} <= {p["phase"] for p in trained} <= {"warmup", "stable", "cooldown"}
        cfg = TrainConfig(**rec["config"]["train"])
        assert min(p["step"] for p in trained) == first_eval(rec["config"]["tokens"], rec["config"]["shape"]["n_ctx"], cfg)
        if res["stopped"] == "early_stop":  # never inside warm-up: every run reached its peak LR
            assert max(p["step"] for p in trained if p["phase"] != "cooldown") >= cfg.warmup_steps
        docs = res["test_documents"]
        assert sum(docs["tokens"]) == res["test_tokens"]
        assert sum(docs["nll"]) / sum(docs["tokens"]) == pytest.approx(res["loss"], abs=1e-4)


def test_corrupt_record_is_reported_by_file_name(smoke_results, tmp_path, capsys):
    results, *_ = smoke_results
    copy = tmp_path / "results"
    shutil.copytree(results / "runs", copy / "runs")
    victim = sorted((copy / "runs").glob("*.json"))[3]
    victim.write_text(victim.read_text()[:200])
    with pytest.raises(CorruptRecordError, match=victim.name):
        load_records(copy)
    assert main(["runs", "export", "--results", str(copy), "-o", str(tmp_path / "r.csv")]) == 2
    assert victim.name in capsys.readouterr().err
    assert victim.read_text()  # nothing deleted


def test_export_table_has_the_documented_columns(smoke_results, tmp_path):
    results, *_ = smoke_results
    out = tmp_path / "runs.csv"
    assert main(["runs", "export", "--results", str(results), "-o", str(out)]) == 0
    header = out.read_text().splitlines()[0].split(",")
    assert header == ["kind", "n_params", "tokens", "pretrain_tokens", "loss", "source", "target", "seed", "stopped"]
    rows = out.read_text().splitlines()[1:]
    assert {r.split(",")[-1] for r in rows} <= {"early_stop", "budget"}
    assert {r.split(",")[-2] for r in rows} == {"0", "1"}  # every seed of the profile


def test_export_for_one_profile_holds_only_its_runs(smoke_results, data_env, tmp_path, capsys):
    results, *_ = smoke_results
    trimmed = tmp_path / "trimmed.toml"
    trimmed.write_text(study_mod.resources.files("transfer_laws").joinpath("profiles/smoke.toml").read_text()
                       .replace("sizes = [6000, 25000]", "sizes = [6000]"))
    args = ["runs", "export", "--results", str(results), "--source", "tinyprose", "--target", "tinypy"]
    assert main([*args, "-o", str(tmp_path / "all.csv")]) == 0
    assert main([*args, "--profile", str(trimmed), "-o", str(tmp_path / "one.csv")]) == 0
    every = (tmp_path / "all.csv").read_text().splitlines()[1:]
    one = (tmp_path / "one.csv").read_text().splitlines()[1:]
    assert 0 < len(one) < len(every) and set(one) <= set(every)
    assert {line.split(",")[1] for line in one} == {"6592"}
    assert main(["runs", "export", "--results", str(results), "--profile", "smoke", "-o", str(tmp_path / "x.csv")]) == 2
    assert "needs --source and --target" in capsys.readouterr().err


def test_too_large_d_fails_before_training(fixture_data, tmp_path):
    prof = tmp_path / "big.toml"
    prof.write_text(study_mod.resources.files("transfer_laws").joinpath("profiles/smoke.toml").read_text()
                    .replace("scratch_tokens = [1024, 2048, 4096, 8192]", "scratch_tokens = [1024, 4096, 999999999]"))
    study = Study.from_names("tinyprose", "tinypy", str(prof), results=tmp_path / "res", data_dir=str(fixture_data))
    with pytest.raises(DataError, match="scratch_tokens=999,999,999.*has only"):
        study.sweep()
    assert not (tmp_path / "res" / "runs").exists()


def _smoke_text() -> str:
    return study_mod.resources.files("transfer_laws").joinpath("profiles/smoke.toml").read_text()


def _plan_of(prof, fixture_data):
    return Study.from_names("tinyprose", "tinypy", prof, data_dir=str(fixture_data)).configs()


def test_plan_gives_each_seed_its_pretraining_and_the_p_grid_its_d_f(fixture_data, tmp_path):
    """One pre-training run per (size, seed), with a checkpoint at the main p and, at
    grid_size, at every p of the grid; each fine-tune starts from its own seed's run;
    grid_finetune_tokens trims the fine-tunes of the extra p only."""
    plan = _plan_of("smoke", fixture_data)
    pre = [c for c in plan if c["kind"] == "pretrain"]
    assert sorted((c["n_target"], c["seed"], tuple(c["checkpoints"])) for c in pre) == [
        (6000, 0, (4096, 16384)), (6000, 1, (4096, 16384)), (25000, 0, (16384,)), (25000, 1, (16384,))]
    ft = [c for c in plan if c["kind"] == "finetune"]
    assert all(c["pretrain"]["seed"] == c["seed"] and c["pretrain"]["n_target"] == c["n_target"] for c in ft)
    assert sorted({c["tokens"] for c in ft if c["pretrain_tokens"] == 16384}) == [1024, 4096]
    assert {c["tokens"] for c in ft if c["pretrain_tokens"] == 4096} == {1024}
    assert len(ft) == 2 * (2 + 1 + 2)

    trimmed = tmp_path / "trimmed.toml"
    trimmed.write_text(_smoke_text().replace("grid_finetune_tokens = [1024]", "grid_finetune_tokens = [1024, 4096]"))
    more = _plan_of(str(trimmed), fixture_data)
    assert {run_id(c) for c in plan} < {run_id(c) for c in more}  # shared runs keep their ids
    assert len(more) - len(plan) == 2  # one more fine-tune per seed
    for bad, msg in (("grid_finetune_tokens = []", "grid_finetune_tokens"),
                     ("grid_size = []", "grid_size"), ('grid_size = "6000"', "grid_size"),
                     ("grid_size = [6000, -1]", "grid_size")):
        (tmp_path / "bad.toml").write_text(_smoke_text().replace(
            "grid_finetune_tokens = [1024]" if "finetune" in bad else "grid_size = 6000", bad))
        with pytest.raises(InputError, match=msg + ".* must be a non-empty list of positive integers"):
            _plan_of(str(tmp_path / "bad.toml"), fixture_data)


def test_grid_seeds_add_pretraining_and_fine_tunes_at_their_sizes_only(fixture_data, tmp_path):
    """Grid seeds: at grid_seeds_size, the same pre-training run and fine-tunes as a seed
    of ``seeds`` has there, and no from-scratch runs; the other runs keep their ids."""
    more = tmp_path / "more.toml"
    more.write_text(_smoke_text().replace("grid_finetune_tokens = [1024]",
                                          "grid_finetune_tokens = [1024]\ngrid_seeds = [2, 9]"))
    plan, extra = _plan_of("smoke", fixture_data), _plan_of(str(more), fixture_data)
    assert {run_id(c) for c in plan} < {run_id(c) for c in extra}
    added = [c for c in extra if c["seed"] in (2, 9)]
    per_seed = [c for c in plan if c["seed"] == 0 and c["n_target"] == 6000 and c["kind"] != "scratch"]
    for seed in (2, 9):
        mine = [c for c in added if c["seed"] == seed]
        assert {c["n_target"] for c in mine} == {6000}  # grid_size only: the default grid_seeds_size
        assert sorted((c["kind"], c["tokens"], c.get("pretrain_tokens")) for c in mine) == \
            sorted((c["kind"], c["tokens"], c.get("pretrain_tokens")) for c in per_seed)
        assert all(c["pretrain_id"] == run_id(c["pretrain"]) and c["pretrain"]["seed"] == seed
                   for c in mine if c["kind"] == "finetune")
    one = tmp_path / "one.toml"  # one size, written as a number as grid_size may be
    one.write_text(more.read_text().replace("grid_seeds = [2, 9]", "grid_seeds = [2, 9]\ngrid_seeds_size = 6000"))
    assert [run_id(c) for c in _plan_of(str(one), fixture_data)] == [run_id(c) for c in extra]
    for bad, msg in (("grid_seeds = [1]", r"grid_seeds \[1\] are already in seeds"),
                     ("grid_seeds = [16]", r"would share data subsets"),
                     ("grid_seeds = [2]\ngrid_seeds_size = [25000]", r"grid_seeds_size \[25000\] are not in grid_size"),
                     ("grid_seeds = [-2]", "grid_seeds must be a list of distinct non-negative integers"),
                     ("grid_seeds = [2, 2]", "grid_seeds must be a list of distinct")):
        (tmp_path / "bad.toml").write_text(_smoke_text().replace("grid_finetune_tokens = [1024]",
                                                                 "grid_finetune_tokens = [1024]\n" + bad))
        with pytest.raises(InputError, match=msg):
            _plan_of(str(tmp_path / "bad.toml"), fixture_data)


def test_finetune_tokens_must_sit_on_the_scratch_grid(fixture_data, tmp_path):
    (tmp_path / "off.toml").write_text(_smoke_text().replace("finetune_tokens = [1024, 4096]",
                                                             "finetune_tokens = [1024, 3000]"))
    with pytest.raises(InputError, match=r"finetune_tokens \[3000\] are not on the scratch_tokens grid"):
        _plan_of(str(tmp_path / "off.toml"), fixture_data)


def test_the_p_grid_can_be_trained_at_several_sizes(fixture_data, tmp_path):
    two = tmp_path / "two.toml"
    two.write_text(_smoke_text().replace("grid_size = 6000", "grid_size = [6000, 25000]"))
    one, both = _plan_of("smoke", fixture_data), _plan_of(str(two), fixture_data)
    pre = lambda plan: {(c["n_target"], tuple(c["checkpoints"])) for c in plan if c["kind"] == "pretrain"}  # noqa: E731
    assert pre(both) == {(6000, (4096, 16384)), (25000, (4096, 16384))}
    shared = {run_id(c) for c in one if c["n_target"] == 6000 or c["kind"] == "scratch"}
    assert shared < {run_id(c) for c in both}  # the 6000 grid and the scratch runs keep their ids


def test_unknown_profile_and_same_pair_are_clear_errors(data_env, capsys):
    assert main(["sweep", "--source", "tinyprose", "--target", "tinypy", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert main(["sweep", "--source", "tinypy", "--target", "tinypy", "--profile", "smoke"]) == 2


def test_loss_falls_on_real_tokens(fixture_data):
    store = DataStore(fixture_data, recipes={})
    shape = shape_for(3000, 4096, 32)
    torch.manual_seed(0)
    model = build_model(shape)
    n = count_non_embedding(model)
    cfg = TrainConfig(batch_size=16, lr=3e-3, warmup_steps=5, max_tokens=16 * 32 * 60, stop_tokens=2048,
                      test_tokens=2048, eval_interval=20, patience=100)
    res = _train(store, model, shape, cfg, 20000)
    assert res.curve[-1]["val_loss"] < res.curve[0]["val_loss"] - 0.3
    assert res.curve[-1]["flops"] == res.tokens * flops_per_token(n, shape)
    assert res.stopped == "budget"  # patience 100: it could not stop early, and says so
    assert max(p["step"] for p in res.curve if p["phase"] == "stable") == 60  # the budget: 60 steps


def _train(store, model, shape, cfg, d, seed=0):
    from transfer_laws.runs import run_tokens

    return train(model, run_tokens(store, "tinypy", d, seed), store.tokens("tinypy", "validation"),
                 store.tokens("tinypy", "test"), np.fromfile(store.index_path("tinypy", "test"), dtype=np.uint64),
                 cfg, shape.n_ctx, flops_per_token(count_non_embedding(model), shape), seed=seed, progress=False)


def test_a_small_dataset_stops_early_and_the_cooldown_starts_from_the_best_point(fixture_data):
    store = DataStore(fixture_data, recipes={})
    shape = shape_for(6000, 4096, 32)
    torch.manual_seed(0)
    cfg = TrainConfig(batch_size=16, lr=1e-2, warmup_steps=4, max_tokens=16 * 32 * 2000, stop_tokens=2048,
                      test_tokens=2048, eval_interval=10, eval_growth=1.5, patience=3)
    res = _train(store, build_model(shape), shape, cfg, 1024)  # 1k tokens: overfits within a few hundred steps
    assert res.stopped == "early_stop"
    stable = [p for p in res.curve if p["phase"] == "stable"]
    best = min(stable, key=lambda p: p["val_loss"])
    assert stable[-1]["step"] < 2000 and 1 <= len([p for p in stable if p["step"] > best["step"]]) <= cfg.patience
    cool = [p for p in res.curve if p["phase"] == "cooldown"]
    assert len(cool) == 4 and cool[-1]["step"] == stable[-1]["step"] + cooldown_steps(best["step"], cfg)
    assert res.stop_loss == min(p["val_loss"] for p in res.curve if p["phase"] != "init")


def test_a_loss_bump_after_warmup_does_not_stop_a_run_before_two_epochs(fixture_data, monkeypatch):
    """The stopping-set loss rises from the first evaluation on (as in the bump after
    warm-up): patience runs out at step 9, but the run may not stop before two epochs of
    its data (20,480 tokens = 40 steps of 512 an epoch: step 80), and then stops at the first evaluation there."""
    from transfer_laws import train as train_mod

    store = DataStore(fixture_data, recipes={})
    shape = shape_for(3000, 4096, 32)
    torch.manual_seed(0)
    cfg = TrainConfig(batch_size=16, lr=3e-3, warmup_steps=4, max_tokens=16 * 32 * 1000, stop_tokens=2048,
                      test_tokens=2048, eval_interval=100, eval_growth=1.15, patience=4)
    rising = iter(5.0 + 0.01 * i for i in range(10_000))
    monkeypatch.setattr(train_mod.Stepper, "evaluate", lambda self, val: next(rising))
    d = 20_480
    min_step = train_mod.min_stop_step(d, shape.n_ctx, cfg)
    assert min_step == 80
    res = _train(store, build_model(shape), shape, cfg, d)
    stable = [p["step"] for p in res.curve if p["phase"] == "stable"]
    assert res.stopped == "early_stop" and stable[-1] >= min_step
    assert [s for s in stable if s >= min_step] == [stable[-1]]  # the first evaluation from two epochs on
    assert stable[-1] == train_mod.earliest_stop(train_mod.first_eval(d, shape.n_ctx, cfg), cfg, min_step)


def test_non_embedding_count_matches_hand_computation():
    # per layer: 2 LayerNorms (2·2d), attention (d·3d + 3d + d·d + d), MLP (d·4d + 4d + 4d·d + d);
    # plus the final LayerNorm (2d). Token/position embeddings (and the tied head) excluded.
    d, L = 64, 2
    hand = L * (4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)) + 2 * d
    model = build_model(ModelShape(n_layer=L, d_model=d, n_head=4, vocab_size=512, n_ctx=64))
    assert count_non_embedding(model) == hand == 100_096


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_builtin_profiles_plan_the_default_pairs(profile):
    """Every built-in profile fits the committed corpora (read from data/manifest.json)."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    for source in ("english", "english+code"):
        configs = Study.from_names(source, "python", profile, data_dir=str(data)).configs()
        kinds = {c["kind"] for c in configs}
        assert kinds == {"pretrain", "scratch", "finetune"}
        assert len({run_id(c) for c in configs}) == len(configs)


@pytest.mark.parametrize("rows,width", [(300, 16), (513, 40)])
def test_fused_output_layer_matches_plain_cross_entropy(rows, width):
    from transfer_laws.fused_loss import linear_cross_entropy

    torch.manual_seed(0)
    h = torch.randn(rows, width, dtype=torch.float64, requires_grad=True)  # rows not a multiple of the chunk
    w = (0.3 * torch.randn(97, width, dtype=torch.float64)).requires_grad_()
    t = torch.randint(0, 97, (rows,))
    plain = torch.nn.functional.cross_entropy(h @ w.t(), t)
    (3.0 * plain).backward()  # a non-unit upstream gradient
    expected = plain.item(), h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    fused = linear_cross_entropy(h, w, t)
    (3.0 * fused).backward()
    assert fused.item() == pytest.approx(expected[0], rel=1e-12)
    torch.testing.assert_close(h.grad, expected[1])
    torch.testing.assert_close(w.grad, expected[2])
    with torch.no_grad():
        assert linear_cross_entropy(h, w, t).item() == pytest.approx(expected[0], rel=1e-12)


@pytest.mark.parametrize("profile,n_orders,p_orders", [("cpu", 1.5, 2.5), ("gpu", 2.0, 2.2)])
def test_builtin_profiles_span_what_the_study_needs(profile, n_orders, p_orders):
    """The spans the design issue asks of each profile, on the N actually instantiated:
    at least 2 layers at every size, N over n_orders decades, ≥ 3 seeds, a from-scratch
    grid from the smallest D_F to well above the largest, the p grid over p_orders decades."""
    import math

    from transfer_laws.study import load_profile

    prof = load_profile(profile)
    shapes = [shape_for(n, 1024, prof["n_ctx"]) for n in prof["sizes"]]
    ns = [count_non_embedding(build_model(s)) for s in shapes]
    assert min(s.n_layer for s in shapes) >= 2 and math.log10(max(ns) / min(ns)) >= n_orders
    assert len(prof["seeds"]) >= 3
    df, d = prof["finetune_tokens"], prof["scratch_tokens"]
    # 4×: the fine-tunes' effective data reached about 1.5× the largest D_F in the cpu study
    # (benchmarks/README.md, the cut to about 2 hours), so the grid's top stays well above it
    assert min(d) <= min(df) and max(d) >= 4 * max(df)
    p = prof["pretrain_tokens"]
    ps = set(p["grid"]) | {p["main"]}
    assert math.log10(max(ps) / min(ps)) >= p_orders


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_every_planned_run_reaches_peak_lr_and_can_stop_early(profile):
    """From scratch and fine-tuned: warm-up ends before the first evaluation, and the
    earliest possible early stop comes before the budget. Pre-training: every p's cooldown
    branch leaves the trunk after warm-up."""
    from pathlib import Path

    from transfer_laws.train import (MIN_COOLDOWN, branch_step, budget_steps, cooldown_lr, earliest_stop,
                                     min_stop_step, pretrain_steps)

    data = Path(__file__).resolve().parents[1] / "data"
    source, target = ("english", "python")
    for c in Study.from_names(source, target, profile, data_dir=str(data)).configs():
        cfg, n_ctx = TrainConfig(**c["train"]), c["shape"]["n_ctx"]
        step_tokens = cfg.batch_size * n_ctx
        if c["kind"] == "pretrain":
            for p in c["checkpoints"]:
                steps = pretrain_steps(p, n_ctx, cfg)
                n_cool = steps - branch_step(steps, cfg)
                assert branch_step(steps, cfg) >= cfg.warmup_steps and n_cool >= MIN_COOLDOWN, (profile, p)
                assert min(cooldown_lr(i, n_cool, cfg) for i in range(n_cool)) > 0
        else:
            first = first_eval(c["tokens"], n_ctx, cfg)
            # evaluated from within the first epoch, and able to stop well before its budget, after warm-up
            assert (first - 1) * step_tokens < c["tokens"] and first <= cfg.warmup_steps, (profile, c["tokens"])
            stop = earliest_stop(first, cfg, min_stop_step(c["tokens"], n_ctx, cfg))
            assert cfg.warmup_steps <= stop <= budget_steps(cfg, n_ctx) // 4, (profile, c["tokens"])


def test_the_shape_rule_never_gives_fewer_than_two_layers():
    for n in [1000, 3000, 6000, 10_000, 25_000, 40_000, 100_000, 300_000, 3_000_000]:
        assert shape_for(n, 1024, 128).n_layer >= 2


def test_process_pool_executor_returns_every_run_and_reports_failures():
    from transfer_laws.study import make_executor

    ex = make_executor(2)
    configs = [{"n": 1}, {"n": 2}, 5, {"n": 3}]  # dict(5, progress=False) raises TypeError in the worker
    out = list(ex.map(dict, configs))
    assert len(out) == 4
    ok = sorted(r["n"] for c, r in out if not isinstance(r, Exception))
    assert ok == [1, 2, 3] and all(r["progress"] is False for c, r in out if isinstance(r, dict))
    assert [c for c, r in out if isinstance(r, Exception)] == [5]
    assert list(ex.map(dict, [])) == []
    assert sorted(r["n"] for _, r in ex.map(dict, (c for c in configs if c != 5))) == [1, 2, 3]  # an iterator


def _note_finished_runs(c, log_dir, progress=True):
    """A stand-in run for the executor tests: it notes which runs had finished when it started."""
    import time
    from pathlib import Path

    seen = sorted(p.stem for p in Path(log_dir).glob("*.done"))
    time.sleep(c.get("sleep", 0.1))
    (Path(log_dir) / f"{c['name']}.done").write_text(",".join(seen))
    return {"name": c["name"], "seen": seen}


@pytest.mark.parametrize("workers", [1, 2])
def test_executors_start_a_run_only_once_it_is_ready(tmp_path, workers):
    import time

    from transfer_laws.study import DependencyError, make_executor

    configs = [{"name": "pre", "sleep": 0.5}, {"name": "ft1", "needs": "pre"}, {"name": "s1"},
               {"name": "ft2", "needs": "pre"}, {"name": "orphan", "needs": "never-runs"}]

    def ready(c):
        return "needs" not in c or (tmp_path / f"{c['needs']}.done").exists()

    ex = make_executor(workers)
    out = {c["name"]: r for c, r in ex.map(_note_finished_runs, configs, ready=ready, log_dir=str(tmp_path))}
    assert set(out) == {"pre", "ft1", "s1", "ft2", "orphan"}
    assert "pre" in out["ft1"]["seen"] and "pre" in out["ft2"]["seen"]
    assert isinstance(out["orphan"], DependencyError) and "never-runs" not in out  # reported, not run
    assert list(ex.map(_note_finished_runs, configs, deadline=time.monotonic() - 1, log_dir=str(tmp_path))) == []


def test_sweep_recreates_a_missing_checkpoint_once_and_keeps_its_record(smoke_results, fixture_data, tmp_path):
    """On a fresh clone records exist but checkpoints do not: a missing fine-tune queues its
    pretrain once, ahead of it, and the pretrain's record is not rewritten."""
    from transfer_laws.study import schedule

    results, *_ = smoke_results
    copy = tmp_path / "results"
    shutil.copytree(results / "runs", copy / "runs")
    recs = load_records(copy)
    pre_id = next(r["config"]["pretrain_id"] for r in recs if r["config"]["kind"] == "finetune")
    fts = [r for r in recs if r["config"].get("pretrain_id") == pre_id][:2]
    for r in fts:
        (copy / "runs" / f"{r['run_id']}.json").unlink()
    pre_record = (copy / "runs" / f"{pre_id}.json").read_bytes()
    study = Study.from_names("tinyprose", "tinypy", "smoke", results=copy, data_dir=str(fixture_data))
    jobs = schedule(study.status()["missing"], copy)
    ids = [run_id(c) for c in jobs]
    assert ids[0] == pre_id and sorted(ids[1:]) == sorted(r["run_id"] for r in fts)
    summary = study.sweep()
    assert summary == {"done": 2, "skipped": len(study.configs()) - 2, "failed": 0, "remaining": 0}
    assert (copy / "runs" / f"{pre_id}.json").read_bytes() == pre_record
    assert all(finetune_checkpoint(copy, r["config"]).exists() for r in fts)
    again = {r["run_id"]: r["result"].get("loss") for r in load_records(copy)}
    for r in fts:  # the recreated weights are the pre-trained ones: the fine-tunes come out the same
        assert again[r["run_id"]] == pytest.approx(r["result"]["loss"], rel=1e-4)


def test_worker_processes_record_the_commit_the_sweep_started_from(monkeypatch):
    """Workers are spawned when the sweep needs them, possibly after the tree changed: they
    take the sweep's commit from the environment instead of reading git again."""
    import subprocess
    import sys

    from transfer_laws import records

    monkeypatch.delenv(records.COMMIT_ENV, raising=False)
    records.git_commit.cache_clear()
    first = records.git_commit()
    assert records.os.environ[records.COMMIT_ENV] == (first or "")
    monkeypatch.setenv(records.COMMIT_ENV, "cafe0123-at-sweep-start")
    child = subprocess.run([sys.executable, "-c", "from transfer_laws.records import git_commit; print(git_commit())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert child == "cafe0123-at-sweep-start"
    records.git_commit.cache_clear()
