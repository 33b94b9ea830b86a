"""Wall time of a whole study, from the wall times its run records carry.

For each model size and run kind: runs, tokens trained and core-seconds (a run's wall
time times the threads it ran on). The study's wall time on ``--cores`` cores is then
core-seconds / cores: what `sweep --workers 2` takes on 2 cores when the two workers are
always busy (the sweep's own wall time is a little longer: a lone run at the end of each
stage leaves a core idle). The profile's budget is a fresh pair, so shared runs (from
scratch runs are the target's, pre-training runs the source's) count in full. The profile's
``grid_seeds`` (more seeds at one size for the transfer gap alone) are rows of their own.

    .venv/bin/python benchmarks/study_time.py --source english+code --target python --profile cpu
"""

from __future__ import annotations

import re
from collections import defaultdict

from transfer_laws.records import load_record, record_path, run_id
from transfer_laws.study import Study
from study_args import study_parser


def threads_of(record: dict) -> int:
    m = re.search(r"\((\d+) threads?\)", record["provenance"].get("hardware", ""))
    return int(m.group(1)) if m else 1


def main() -> None:
    ap = study_parser(__doc__)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()

    study = Study.from_names(args.source, args.target, args.profile, results=args.results)
    status = study.status()
    grid_seeds = set(study.profile["pretrain_tokens"].get("grid_seeds", []))
    table: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    commits, stopped = set(), defaultdict(int)
    for c in status["done"]:
        r = load_record(record_path(study.results, run_id(c)))
        seeds = "grid seeds" if c["seed"] in grid_seeds else "seeds"
        row = table[(r["result"]["n_params"], c["kind"], seeds)]
        row[0] += 1
        row[1] += r["result"]["tokens_trained"]
        row[2] += r["provenance"]["wall_s"] * threads_of(r)
        commits.add(r["provenance"]["git_commit"][:7])
        if c["kind"] != "pretrain":
            stopped[r["result"]["stopped"]] += 1

    print(f"study {args.source} -> {args.target} ({args.profile}); {len(status['missing'])} planned runs have no record; "
          f"records from commits {', '.join(sorted(commits))}")
    print(f"| N | kind | seeds | runs | tokens | core-min | wall-min on {args.cores} cores |")
    print("|---:|---|---|---:|---:|---:|---:|")
    total = 0.0
    for (n, kind, seeds), (runs, tokens, core_s) in sorted(table.items()):
        total += core_s
        print(f"| {n:,} | {kind} | {seeds} | {runs} | {tokens / 1e6:.1f}M | {core_s / 60:.1f} | {core_s / 60 / args.cores:.1f} |")
    print(f"| all | | | {sum(v[0] for v in table.values())} | {sum(v[1] for v in table.values()) / 1e6:.1f}M "
          f"| {total / 60:.1f} | **{total / 60 / args.cores:.1f}** |")
    measured = sum(stopped.values())
    if measured:
        print(f"\nstopped early: {stopped['early_stop']} of {measured} from-scratch and fine-tuned runs "
              f"({stopped['early_stop'] / measured:.0%}); at the token budget (censored): {stopped['budget']}")


if __name__ == "__main__":
    main()
