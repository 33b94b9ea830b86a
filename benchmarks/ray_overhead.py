"""Overhead per run of the Ray executor against the local process pool.

Sweeps the `smoke` study into fresh results folders, alternately with `--workers 2` (the
local pool) and on a local Ray instance with 2 CPUs (one CPU, i.e. one torch thread, per
run, as each pool worker has on 2 cores), and prints each sweep's wall time, the runs'
own wall times summed from their records, and the difference per run. Ray's start-up
(`ray.init`) is timed apart: a cluster is started once, not per sweep. It also pushes
no-op runs through both executors, which leaves the cost of dispatch alone.

    .venv/bin/python benchmarks/ray_overhead.py [--repeats 2] [--data-dir DIR --source S --target T]

Without --data-dir it builds the tests' two small corpora from the Python standard
library (tinyprose -> tinypy) in a temporary folder, as the test suite does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray

from transfer_laws.ray_executor import RayExecutor
from transfer_laws.records import load_records
from transfer_laws.study import ProcessPoolExecutorAdapter, Study


def fixture_data(root: Path) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import write_fixture_texts

    from transfer_laws.data import DataStore

    py_glob, prose_glob = write_fixture_texts(root)
    store = DataStore(root / "data", recipes={})
    store.add_local("tinypy", py_glob, "PSF-2.0", cleaner="code", build=False)
    store.add_local("tinyprose", prose_glob, "PSF-2.0", cleaner="prose", drop_python=True, build=False)
    store.build(["tinypy", "tinyprose"])
    return str(root / "data")


def sweep(executor, args, data_dir: str, results: Path) -> tuple[float, float, int]:
    """Wall time of the sweep, summed wall time of its runs, number of runs."""
    study = Study.from_names(args.source, args.target, "smoke", results=results, data_dir=data_dir)
    t0 = time.perf_counter()
    summary = study.sweep(executor=executor, log=lambda line: None)
    wall = time.perf_counter() - t0
    assert summary["failed"] == 0 and summary["remaining"] == 0, summary
    runs = load_records(results)
    return wall, sum(r["provenance"]["wall_s"] for r in runs), len(runs)


def noop(config: dict, progress: bool = True) -> dict:
    return config


def dispatch(executor, n: int) -> tuple[float, float]:
    """Seconds a map of no-op runs pays once (the pool's start), and per run."""
    def wall(k: int) -> float:
        t0 = time.perf_counter()
        assert len(list(executor.map(noop, [{"i": i} for i in range(k)]))) == k
        return time.perf_counter() - t0

    once, twice = wall(n), wall(2 * n)
    per_run = (twice - once) / n
    return once - n * per_run, per_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--source", default="tinyprose")
    ap.add_argument("--target", default="tinypy")
    ap.add_argument("--noop-runs", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_dir = str(Path(args.data_dir).absolute()) if args.data_dir else fixture_data(tmp)
        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        print(f"ray.init (a local instance, 2 CPUs): {time.perf_counter() - t0:.1f} s")
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # noop() reaches the workers by value
        executors = {"pool": ProcessPoolExecutorAdapter(2), "ray": RayExecutor(cpus_per_run=1, gpus_per_run=0)}
        label = {"pool": "local pool (--workers 2)", "ray": "ray (1 CPU per run)"}
        walls: dict[str, list[float]] = {name: [] for name in executors}
        idle: dict[str, list[float]] = {name: [] for name in executors}
        for i in range(args.repeats):
            for name, ex in executors.items():
                wall, run_s, n = sweep(ex, args, data_dir, tmp / f"results-{name}-{i}")
                walls[name].append(wall)
                idle[name].append((2 * wall - run_s) / n)
                print(f"{label[name]:<26} sweep {wall:6.1f} s for {n} runs (the runs' own wall times: {run_s:6.1f} s; "
                      f"core-s per run outside them: {idle[name][-1]:.2f})")
        pool, on_ray = statistics.median(walls["pool"]), statistics.median(walls["ray"])
        print(f"median sweep: pool {pool:.1f} s, ray {on_ray:.1f} s: {(on_ray - pool) / n:+.2f} s per run; "
              f"median core-s per run outside the runs' own wall times: pool {statistics.median(idle['pool']):.2f}, "
              f"ray {statistics.median(idle['ray']):.2f}")
        for name, ex in executors.items():
            once, per_run = dispatch(ex, args.noop_runs)
            print(f"{label[name]:<26} no-op runs: {once:.2f} s per sweep + {1000 * per_run:.2f} ms per run")
        ray.shutdown()


if __name__ == "__main__":
    main()
