"""The v2 study design: schedule pieces, seeds' data subsets, versioned run ids,
pre-training branches, per-document test losses."""

import json

import numpy as np
import pytest
import torch

from transfer_laws import records
from transfer_laws.cli import main
from transfer_laws.model import ModelShape, build_model, count_non_embedding, flops_per_token
from transfer_laws.records import CorruptRecordError, run_id, validate
from transfer_laws.subsets import SLOTS, seed_subset, subset_start
from transfer_laws.train import (EarlyStopping, TrainConfig, cooldown_lr, next_eval, per_document, pretrain,
                                 first_eval, warmup_lr)


def test_warmup_reaches_the_peak_and_stays_there_and_every_cooldown_step_learns():
    cfg = TrainConfig(lr=1e-2, warmup_steps=10)
    assert warmup_lr(0, 10, cfg) == pytest.approx(1e-3)
    assert warmup_lr(9, 10, cfg) == warmup_lr(10, 10, cfg) == warmup_lr(10_000, 10, cfg) == 1e-2
    lrs = [cooldown_lr(i, 8, cfg) for i in range(8)]
    assert lrs[0] == 1e-2 and lrs[-1] == pytest.approx(1e-2 / 8) and all(a > b > 0 for a, b in zip(lrs, lrs[1:]))


def test_evaluation_starts_within_an_epoch_and_stopping_only_after_warmup():
    from transfer_laws.train import earliest_stop

    cfg = TrainConfig(warmup_steps=10, batch_size=32, eval_growth=1.15, patience=4)  # 4,096 tokens a step
    assert [first_eval(d, 128, cfg) for d in (1024, 2048, 8192, 32768, 40960, 10**6)] == [1, 1, 2, 8, 10, 10]
    assert earliest_stop(1, cfg) == 11 and earliest_stop(10, cfg) == 20  # evaluations at 1, 2, 3, 4, 5, 6, 7, 9, 11


def test_evaluations_start_at_the_end_of_warmup_and_grow_to_the_interval():
    cfg = TrainConfig(warmup_steps=10, eval_growth=1.5, eval_interval=50)
    steps, s = [], 0
    while s < 400:
        s = next_eval(s, 10, cfg)
        steps.append(s)
    assert steps[:4] == [10, 15, 23, 35]
    gaps = np.diff(steps)
    assert gaps.max() == 50 and all(np.diff(gaps[gaps < 50]) >= 0)


def test_early_stopping_keeps_the_lowest_loss_and_counts_evaluations_without_a_real_improvement():
    es = EarlyStopping(patience=2, min_delta=0.01)
    assert es.update(5.0) and not es.stop
    assert es.update(4.995) and es.since_improvement == 1  # the lowest so far (kept), not an improvement
    assert es.update(4.9) and es.since_improvement == 0
    assert not es.update(4.95) and not es.update(4.9) and es.stop and es.best == 4.9


def test_seeds_draw_nested_subsets_within_a_seed_and_disjoint_ones_across_seeds():
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 500, size=400)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    tokens = np.arange(lengths.sum())  # token i is i: subsets are easy to compare
    n = len(tokens)
    for seed in range(3):
        a, b = seed_subset(tokens, starts, 1000, seed), seed_subset(tokens, starts, 5000, seed)
        assert len(a) == 1000 and len(b) == 5000 and np.array_equal(a, b[:1000])  # nested
        assert subset_start(n, starts, seed) in set(starts.tolist())  # starts at a document
    big = n // SLOTS - 500
    sets = [set(seed_subset(tokens, starts, big, s).tolist()) for s in range(SLOTS)]
    assert all(not (sets[i] & sets[j]) for i in range(SLOTS) for j in range(i))  # disjoint
    # seeds 0-7 kept the stretches they had when there were 8 slots (their records stay valid)
    for seed in range(8):
        old = int(starts[np.searchsorted(starts, seed * n // 8)])
        assert subset_start(n, starts, seed) == old
    for seed in range(8, 16):  # seeds 8-15 at the odd sixteenths, between the first eight
        assert subset_start(n, starts, seed) == int(starts[np.searchsorted(starts, (2 * (seed - 8) + 1) * n // 16)])
    assert subset_start(n, starts, 16 + 3) == subset_start(n, starts, 3)  # beyond 16 seeds, slots repeat
    assert np.array_equal(seed_subset(tokens, starts, 1000, 0), tokens[:1000])  # seed 0: the prefix
    wrapped = seed_subset(tokens, starts, n - 10, SLOTS - 1)  # longer than what is left: wraps around
    assert len(wrapped) == n - 10 and len(set(wrapped.tolist())) == n - 10
    with pytest.raises(ValueError, match="asked for"):
        seed_subset(tokens, starts, n + 1, 0)


def _config(**train) -> dict:
    return {"schema": records.CONFIG_SCHEMA, "kind": "scratch", "n_target": 6000, "tokens": 4096, "seed": 0,
            "shape": {"n_layer": 2, "d_model": 16, "n_head": 1, "vocab_size": 512, "n_ctx": 32},
            "train": {"lr": 3e-3, **train}, "target": "t"}


# The `train` fields of a schema-2 config as the schema began. A TrainConfig field added
# later must be listed in records.ADDED_FIELDS with the value earlier runs implicitly had,
# or every run id changes.
SCHEMA_2_TRAIN_FIELDS = {
    "lr", "warmup_steps", "weight_decay", "beta1", "beta2", "grad_clip", "batch_size", "max_tokens", "stop_tokens",
    "eval_interval", "eval_growth", "patience", "min_delta", "cooldown_fraction", "test_tokens", "compile"}


def test_every_new_train_field_is_declared_with_its_implicit_value():
    from dataclasses import fields

    added = {key.split(".", 1)[1] for key in records.ADDED_FIELDS if key.startswith("train.")}
    new = {f.name for f in fields(TrainConfig)} - SCHEMA_2_TRAIN_FIELDS - added
    assert not new, f"add {sorted(new)} to records.ADDED_FIELDS as 'train.<name>': <value earlier runs had>"


def test_adding_a_config_field_with_a_default_keeps_every_run_id(monkeypatch):
    old = _config()
    ft = {**_config(), "kind": "finetune", "pretrain": {**_config(), "kind": "pretrain"}}
    ids = run_id(old), run_id(ft)
    monkeypatch.setitem(records.ADDED_FIELDS, "train.label_smoothing", 0.0)
    monkeypatch.setitem(records.ADDED_FIELDS, "curriculum", "none")
    new = _config(label_smoothing=0.0) | {"curriculum": "none"}
    new_ft = {**new, "kind": "finetune", "pretrain": {**new, "kind": "pretrain"}}
    assert (run_id(new), run_id(new_ft)) == ids  # same runs, same names
    assert run_id(_config(label_smoothing=0.1)) != ids[0]  # a different value is a different run
    assert run_id(_config(lr=1e-3)) != ids[0]


def test_a_first_engine_record_is_refused_with_a_reason():
    cfg = {k: v for k, v in _config().items() if k != "schema"}
    rec = {"run_id": run_id(cfg), "config": cfg, "result": {"best_loss": 3.0}, "curve": [], "provenance": {}}
    with pytest.raises(CorruptRecordError, match="schema 1.*git history"):
        validate(rec, "old.json")


def test_per_document_losses_add_up_to_the_mean():
    losses = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # tokens 1..6 of the split are predicted
    nll, count = per_document(losses, np.array([0, 3, 5, 9]))
    assert count.tolist() == [2, 2, 2] and nll.tolist() == [3.0, 7.0, 11.0]


def _pretrain(checkpoints, tokens, seed=0):
    shape = ModelShape(n_layer=2, d_model=16, n_head=1, vocab_size=64, n_ctx=16)
    torch.manual_seed(seed)
    model = build_model(shape)
    cfg = TrainConfig(batch_size=4, warmup_steps=2, stop_tokens=256, cooldown_fraction=0.1)
    return pretrain(model, tokens, tokens[-300:], checkpoints, cfg, 16,
                    flops_per_token(count_non_embedding(model), shape), seed=seed, progress=False)


def test_a_cooldown_branch_leaves_the_pretraining_trunk_untouched():
    tokens = np.random.default_rng(0).integers(0, 64, 5000)
    alone = _pretrain([4096], tokens)
    branched = _pretrain([512, 1024, 4096], tokens)
    for k, t in alone.checkpoints[4096].items():
        assert torch.equal(t, branched.checkpoints[4096][k]), k  # the same weights, bit for bit
    assert not torch.equal(branched.checkpoints[512]["lm_head.weight"], branched.checkpoints[4096]["lm_head.weight"])
    # each branch costs its cooldown (at least 4 steps) on top of the trunk
    assert branched.steps == alone.steps + 4 + 4  # 512 → 7 steps (4 cooldown), 1024 → 15 (4)


def test_models_json_lists_each_size_a_profile_trains(data_env, capsys):
    assert main(["models", "--profile", "smoke", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["n_params"] for r in rows] == [6592, 25472]
    for r in rows:
        assert {"n_params", "n_layer", "d_model", "n_head", "vocab_size", "total_params", "flops_per_token"} <= set(r)
        assert r["flops_per_token"] == r["kaplan_flops_per_token"] + 6 * r["d_model"] * r["vocab_size"]
        assert r["n_layer"] >= 2
