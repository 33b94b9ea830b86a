"""The `transfer-laws` command line.

Every user error (unknown distribution, impossible size, corrupt file, bad table)
is raised as one of the project's error types, printed as one clear line, and
exits with status 2; nothing already computed is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class UsageError(RuntimeError):
    """A bad argument the command line itself detects."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from .artifacts import ArtifactError
    from .data import DataError
    from .errors import InputError

    return (UsageError, DataError, ArtifactError, InputError)


# --- data ----------------------------------------------------------------------------
def cmd_data_build(args) -> None:
    from .data import DataStore

    DataStore(args.data_dir).build(args.names or None, force=args.force, vocab_size=args.vocab_size)
    cmd_data_list(argparse.Namespace(data_dir=args.data_dir, json=False, names=args.names))


def cmd_data_add(args) -> None:
    from .data import DataStore

    e = DataStore(args.data_dir).add_local(args.name, args.files, args.license, args.description, args.cleaner,
                                           drop_python=args.drop_python)
    print(f"added {args.name}: {e['tokens']['train']:,} train tokens from {len(e['sources'][0]['file_sha256'])} files")


def cmd_data_list(args) -> None:
    from .data import DataStore

    rows = DataStore(args.data_dir).listing()
    if getattr(args, "names", None):
        rows = [r for r in rows if r["name"] in args.names]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'name':<14} {'kind':<7} {'MB':>6} {'train tok':>11} {'val tok':>9} {'test tok':>9} {'B/tok':>5} "
          f"{'py-leak':>8}  sha256        license")
    for r in rows:
        if not r["built"]:
            print(f"{r['name']:<14} {r['kind']:<7} {'(not built: transfer-laws data build ' + r['name'] + ')'}")
            continue
        mb = f"{r['bytes'] / 1e6:.1f}" if r["bytes"] else "-"
        leak = f"{100 * r['leakage_share']:.3f}%" if r["leakage_share"] is not None else "-"
        bpt = f"{r['bytes_per_token']:.2f}" if r["bytes_per_token"] else "-"
        print(f"{r['name']:<14} {r['kind']:<7} {mb:>6} {r['train_tokens']:>11,} {r['validation_tokens']:>9,} "
              f"{r['test_tokens']:>9,} {bpt:>5} {leak:>8}  {(r['sha256'] or '')[:12]}  {r['license'][:60]}")


# --- models ----------------------------------------------------------------------------
def cmd_models(args) -> None:
    from .model import describe, family_table, shape_for

    if args.profile:
        from .data import DataStore
        from .study import load_profile

        prof = load_profile(args.profile)
        vocab = (DataStore(args.data_dir).manifest().get("tokenizer") or {}).get("vocab_size")
        if vocab is None:
            raise UsageError("no tokenizer is built; run `transfer-laws data build` first (the vocabulary sets the "
                             "output layer)")
        rows = [{"n_target": n, **describe(shape_for(n, vocab, prof["n_ctx"]))} for n in prof["sizes"]]
    else:
        rows = family_table(vocab_size=args.vocab_size)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'N (non-emb)':>12} {'layers':>6} {'width':>6} {'heads':>5} {'vocab':>6} {'total params':>13} "
          f"{'FLOPs/token':>12} {'6N+attn':>10} {'head share':>10}")
    for r in rows:
        print(f"{r['n_params']:>12,} {r['n_layer']:>6} {r['d_model']:>6} {r['n_head']:>5} {r['vocab_size']:>6} "
              f"{r['total_params']:>13,} {r['flops_per_token']:>12,.0f} {r['kaplan_flops_per_token']:>10,.0f} "
              f"{1 - r['kaplan_flops_per_token'] / r['flops_per_token']:>10.0%}")


# --- runs and sweeps -----------------------------------------------------------------------
def cmd_sweep(args) -> None:
    from .study import Study

    results, data_dir, executor = args.results, args.data_dir, None
    if args.executor == "ray":
        if args.workers != 1:
            raise UsageError("--workers is for --executor local; on Ray each run takes the resources its profile "
                             "asks for, and the cluster's size sets how many run at once")
        from .data import default_root

        # the same folders on every node, whatever the working directory of Ray's workers
        results, data_dir = Path(results).absolute(), str(Path(data_dir or default_root()).absolute())
    elif args.ray_address:
        raise UsageError("--ray-address is for --executor ray")
    study = Study.from_names(args.source, args.target, args.profile, results=results, data_dir=data_dir)
    if args.executor == "ray":
        from .ray_executor import sweep_executor

        executor = sweep_executor(study, args.ray_address, args.device)
    study.sweep(workers=args.workers, limit_s=args.max_minutes * 60 if args.max_minutes else None,
                device=args.device, executor=executor)


def cmd_runs_export(args) -> None:
    from .records import export_runs

    run_ids = None
    if args.profile:
        from .errors import InputError
        from .records import run_id
        from .study import Study

        if not (args.source and args.target):
            raise InputError("runs export --profile needs --source and --target: a profile plans the runs of one pair")
        run_ids = {run_id(c) for c in Study.from_names(args.source, args.target, args.profile,
                                                       results=args.results).configs()}
    n = export_runs(Path(args.results), Path(args.output), source=args.source, target=args.target,
                    run_ids=run_ids)
    print(f"wrote {n} runs to {args.output}")


# --- fits ------------------------------------------------------------------------------------
def cmd_fit(args) -> None:
    from .fitcli import run_fit

    n_boot = args.bootstrap if args.bootstrap is not None else (1000 if args.law == "scratch" else 200)
    run_fit(args.law, Path(args.runs), as_json=args.json, n_boot=n_boot, seed=args.seed,
            pretrain_tokens=args.pretrain_tokens, form=args.form, source=args.source, sources=args.sources)


def cmd_study(args) -> None:
    from .book import run_study

    run_study(args.source, args.target, args.profile, results=Path(args.results), data_dir=args.data_dir)


def cmd_book(args) -> None:
    from .book import build_book

    build_book(results=Path(args.results), output=Path(args.output))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="transfer-laws", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="data folder (default: $TRANSFER_LAWS_DATA or ./data)")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build and inspect text distributions").add_subparsers(dest="data_cmd", required=True)
    b = data.add_parser("build", help="fetch, clean, split and tokenize distributions (idempotent)")
    b.add_argument("names", nargs="*", help="distributions to build (default: all built-in)")
    b.add_argument("--force", action="store_true", help="rebuild even when the cache is up to date")
    b.add_argument("--vocab-size", type=int, default=None,
                   help="tokenizer vocabulary (default: the manifest's, else tokenizer.VOCAB_SIZE); "
                        "changing it needs --force and retokenizes every built distribution")
    b.set_defaults(func=cmd_data_build)
    a = data.add_parser("add", help="define a distribution from your own text files")
    a.add_argument("name")
    a.add_argument("--files", required=True, help="glob of text files, e.g. 'corpus/**/*.txt' (quote it)")
    a.add_argument("--license", required=True)
    a.add_argument("--description", default="")
    a.add_argument("--cleaner", choices=["code", "prose"], default="code")
    a.add_argument("--drop-python", action="store_true",
                   help="drop documents with Python-looking lines (for a source that must not leak into a Python target)")
    a.set_defaults(func=cmd_data_add)
    ls = data.add_parser("list", help="distributions with sizes, licenses, leakage and checksums")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_data_list, names=None)

    m = sub.add_parser("models", help="print the model family: the sizes a profile trains, or the named sizes")
    m.add_argument("--profile", default=None, help="the sizes this profile trains (vocabulary from the data manifest)")
    m.add_argument("--vocab-size", type=int, default=1024, help="without --profile: the vocabulary to size for")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    s = sub.add_parser("sweep", help="run every missing run of a study (resumable)")
    s.add_argument("--source", required=True)
    s.add_argument("--target", required=True)
    s.add_argument("--profile", required=True, help="smoke, cpu, gpu, or a path to a profile .toml")
    s.add_argument("--results", default="results")
    s.add_argument("--workers", type=int, default=1, help="parallel local processes (1 = sequential)")
    s.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    s.add_argument("--max-minutes", type=float, default=None, help="stop starting new runs after this long")
    s.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: processes on this machine (--workers); ray: one Ray task per run "
                        "(README: On a cluster)")
    s.add_argument("--ray-address", default=None,
                   help="the Ray cluster to run on: 'auto' on one of its nodes, or the head's host:port "
                        "(default: start a local Ray instance)")
    s.set_defaults(func=cmd_sweep)

    runs = sub.add_parser("runs", help="run records").add_subparsers(dest="runs_cmd", required=True)
    e = runs.add_parser("export", help="write the RUNS.csv table the fits read")
    e.add_argument("--results", default="results")
    e.add_argument("--source")
    e.add_argument("--target")
    e.add_argument("--profile", help="only the runs this profile plans for --source/--target "
                                     "(records are shared between profiles)")
    e.add_argument("-o", "--output", required=True)
    e.set_defaults(func=cmd_runs_export)

    f = sub.add_parser("fit", help="fit a law to a RUNS.csv table",
                       description="scratch: a joint from-scratch law L(N, D) on the scratch rows; hernandez: "
                                   "D_T = k·D_F^α·N^β in loss space; compare: two sources' α, β, log k differences; "
                                   "barnett: the transfer-gap law")
    f.add_argument("law", choices=["scratch", "hernandez", "compare", "barnett"])
    f.add_argument("--runs", required=True)
    f.add_argument("--json", action="store_true")
    f.add_argument("--bootstrap", type=int, default=None,
                   help="resamples (default: 1000 for scratch, 200 otherwise; seed-cluster resamples for hernandez)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--form", choices=["chinchilla", "kaplan"], default="chinchilla", help="scratch: the joint form")
    f.add_argument("--source", default=None, help="hernandez: the source to fit when the table has several")
    f.add_argument("--sources", nargs=2, default=None, metavar=("A", "B"), help="compare: the two sources")
    f.add_argument("--pretrain-tokens", type=float, default=None,
                   help="hernandez, compare: the pre-training size p to fit at (default: the p present at the most sizes)")
    f.set_defaults(func=cmd_fit)

    st = sub.add_parser("study", help="sweep, fit and add a pair's pages to the book")
    st.add_argument("--source", required=True)
    st.add_argument("--target", required=True)
    st.add_argument("--profile", default="cpu")
    st.add_argument("--results", default="results")
    st.set_defaults(func=cmd_study)

    bk = sub.add_parser("book", help="execute the notebooks and build the HTML book").add_subparsers(dest="book_cmd", required=True)
    bb = bk.add_parser("build")
    bb.add_argument("--results", default="results")
    bb.add_argument("--output", default="_build")
    bb.set_defaults(func=cmd_book)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except _user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept, rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
