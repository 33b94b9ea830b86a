"""What evaluation costs a study, from its run records, as a share of the run's compute.

An evaluation is a forward pass, about a third of a training step's FLOPs per token. For
each from-scratch and fine-tuning run: evaluated tokens (every point of its curve, plus the
final test evaluation for records that have one) over trained tokens, and the share of the
run's compute that went into evaluating. Works on records of either engine, so the first
study (git history, commit bf90aa9) and the v2 one can be compared:

    git worktree add /tmp/v1 bf90aa9 && .venv/bin/python benchmarks/eval_cost.py --results /tmp/v1/results
    .venv/bin/python benchmarks/eval_cost.py --results results
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FORWARD_SHARE = 1 / 3  # forward FLOPs per token / training-step FLOPs per token


def evaluated_tokens(record: dict) -> tuple[int, int]:
    """(tokens evaluated, tokens trained) of one record, v1 or v2."""
    res, cfg = record["result"], record["config"]
    if "stop_tokens" in res:  # v2: the stopping set at each curve point, the test split once
        return len(record["curve"]) * res["stop_tokens"] + res["test_tokens"], res["tokens_trained"]
    return len(record["curve"]) * res.get("eval_tokens", cfg["train"].get("eval_tokens", 65_536)), res["tokens_trained"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    args = ap.parse_args()
    evaluated = trained = runs = 0
    for path in sorted((Path(args.results) / "runs").glob("*.json")):
        rec = json.loads(path.read_text())
        if rec["config"]["kind"] == "pretrain":
            continue
        e, t = evaluated_tokens(rec)
        evaluated, trained, runs = evaluated + e, trained + t, runs + 1
    if not runs:
        raise SystemExit(f"no from-scratch or fine-tuning records under {args.results}/runs")
    share = evaluated * FORWARD_SHARE / (evaluated * FORWARD_SHARE + trained)
    print(f"{runs} runs: {evaluated / 1e6:.1f}M tokens evaluated, {trained / 1e6:.1f}M trained; "
          f"evaluation ≈ {share:.1%} of the compute (forward = 1/3 of a training step per token)")


if __name__ == "__main__":
    main()
