"""The Ray executor, on a local Ray instance with 2 CPUs that this module starts.

A four-run study (one pretrain, one from scratch, two fine-tunes of the pretrain, from its
two checkpoints) keeps these tests short; it exercises the pretrain -> fine-tune dependency
like the smoke study, and its runs are smoke runs (the same configs, so the same run ids)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray

from transfer_laws import runs
from transfer_laws import study as study_mod
from transfer_laws.cli import main
from transfer_laws.ray_executor import ClusterError, RayExecutor, _make_probe, sweep_executor
from transfer_laws.records import load_records, run_id
from transfer_laws.study import Study

PAIR = ("tinyprose", "tinypy")


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance for this module; the address other drivers connect to."""
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    # the stand-in runs below are shipped to Ray's workers by value: they cannot import this file
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        ray.shutdown()


@pytest.fixture(scope="module")
def four_runs(tmp_path_factory) -> str:
    smoke = study_mod.resources.files("transfer_laws").joinpath("profiles/smoke.toml").read_text()
    for old, new in (("sizes = [6000, 25000]", "sizes = [6000]"), ("seeds = [0, 1]", "seeds = [0]"),
                     ("scratch_tokens = [1024, 2048, 4096, 8192]", "scratch_tokens = [1024]"),
                     ("finetune_tokens = [1024, 4096]", "finetune_tokens = [1024]")):
        assert old in smoke
        smoke = smoke.replace(old, new)
    path = tmp_path_factory.mktemp("profiles") / "four.toml"
    path.write_text(smoke)
    return str(path)


def _killed_once_before_its_record(cfg, **kwargs):
    """``execute_run``, except that the pretrain run's worker process is killed (SIGKILL) the
    first time, once it has trained and saved its checkpoint, just before its record is written."""
    attempts = Path(kwargs["results"]) / f"attempts-{cfg['kind']}"
    with open(attempts, "a") as f:
        f.write("x")
    if cfg["kind"] == "pretrain" and attempts.read_text() == "x":
        runs.write_record = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    return runs.execute_run(cfg, **kwargs)


def test_ray_sweep_matches_the_local_pool_and_retries_a_killed_run(ray_address, four_runs, fixture_data,
                                                                   tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_LAWS_THREADS", "1")  # the Ray runs' threads (one CPU each), on any machine
    local = Study.from_names(*PAIR, four_runs, results=tmp_path / "local", data_dir=str(fixture_data))
    assert local.sweep(workers=2)["done"] == 4

    on_ray = Study.from_names(*PAIR, four_runs, results=tmp_path / "ray", data_dir=str(fixture_data))
    monkeypatch.setattr(study_mod, "execute_run", _killed_once_before_its_record)
    summary = on_ray.sweep(executor=sweep_executor(on_ray))
    assert summary == {"done": 4, "skipped": 0, "failed": 0, "remaining": 0}
    assert (tmp_path / "ray" / "attempts-pretrain").read_text() == "xx"  # killed once, retried once

    want = {r["run_id"]: r["result"].get("loss") for r in load_records(tmp_path / "local")}
    got = {r["run_id"]: r["result"].get("loss") for r in load_records(tmp_path / "ray")}
    assert set(got) == set(want) == {run_id(c) for c in on_ray.configs()}
    for rid, loss in want.items():
        assert got[rid] == (loss if loss is None else pytest.approx(loss, rel=1e-4)), rid  # None: the pretrain run
    assert not list((tmp_path / "ray").glob(".ray-check-*"))  # the node check cleans up


DRIVER = """
import sys, time
from pathlib import Path
from transfer_laws import study
from transfer_laws.cli import main

real = study.execute_run

def held(cfg, **kwargs):
    # fine-tunes start, then wait while the file `hold` exists: they are in flight when the driver dies
    results = Path(kwargs["results"])
    if cfg["kind"] == "finetune":
        (results / f"started-{cfg['pretrain_tokens']}").touch()
        while (results / "hold").exists():
            time.sleep(0.05)
    return real(cfg, **kwargs)

study.execute_run = held
sys.exit(main(sys.argv[1:]))
"""


def test_driver_killed_mid_sweep_loses_only_the_runs_in_flight(ray_address, four_runs, fixture_data, tmp_path,
                                                               capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "hold").touch()
    (tmp_path / "driver.py").write_text(DRIVER)
    args = ["--data-dir", str(fixture_data), "sweep", "--source", PAIR[0], "--target", PAIR[1],
            "--profile", four_runs, "--results", str(results), "--executor", "ray"]
    log = open(tmp_path / "driver.log", "wb")
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), *args, "--ray-address", ray_address],
                              stdout=log, stderr=log)
    try:
        give_up = time.monotonic() + 900  # a wait, not a timing: a loaded 2-core machine is slow
        while not (len(list(results.glob("runs/*.json"))) == 2 and len(list(results.glob("started-*"))) == 2):
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
            assert time.monotonic() < give_up, "the driver never got the fine-tunes in flight"
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        log.close()
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in results.glob("runs/*.json")}
    assert {r["config"]["kind"] for r in load_records(results)} == {"pretrain", "scratch"}

    # Ray stops the dead driver's runs: both CPUs come free (else the held runs would wait forever)
    give_up = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0) < 2:
        assert time.monotonic() < give_up, "Ray did not stop the killed driver's runs"
        time.sleep(0.2)
    capsys.readouterr()
    assert main(args) == 0  # started again, here, on the same Ray instance
    assert "2 run now, 2 skipped (already done), 0 failed, 0 remain" in capsys.readouterr().out
    for p, (mtime, content) in before.items():
        assert p.stat().st_mtime_ns == mtime and p.read_bytes() == content
    assert len(load_records(results)) == 4


def test_a_node_lacking_data_or_the_project_is_named(ray_address, tmp_path):
    host = re.escape(socket.gethostname())
    for check, kwargs, lacks in [
        ("transfer_laws.ray_executor:check_data", {"data_dir": str(tmp_path / "nowhere"), "distributions": ["tinypy"]},
         "cannot read the data of 'tinypy' under"),
        ("transfer_laws_elsewhere:check", {}, "cannot import transfer_laws_elsewhere"),
    ]:
        ex = RayExecutor(shared=str(tmp_path), node_check=check, check_kwargs=kwargs)
        with pytest.raises(ClusterError, match=f"node {host} \\(.*\\) {lacks}"):
            list(ex.map(dict, [{"n": 1}]))
    assert not list(tmp_path.glob(".ray-check-*"))
    too_big = RayExecutor(cpus_per_run=3)
    with pytest.raises(ClusterError, match="asks for 3 CPU.*has 2 CPUs"):
        list(too_big.map(dict, [{"n": 1}]))
    assert sorted(r["n"] for _, r in RayExecutor().map(dict, [{"n": 1}, {"n": 2}])) == [1, 2]


def test_the_node_probe_runs_where_the_project_cannot_be_imported(tmp_path):
    """The probe reaches the nodes by value: on a node without this project it still runs and
    says what is missing. Here a Python where importing transfer_laws fails stands for that node."""
    (tmp_path / "probe.pkl").write_bytes(ray.cloudpickle.dumps(_make_probe()))
    code = ("import sys, pickle; sys.modules['transfer_laws'] = None; "
            "probe = pickle.load(open(sys.argv[1], 'rb')); "
            "print(probe(sys.argv[2], 'tok', 'transfer_laws.ray_executor:check_data', {})[1])")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "probe.pkl"), str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    assert "cannot import transfer_laws.ray_executor" in out
    assert f"does not see the results folder {tmp_path}" in out  # no marker from a driver there


def test_cluster_problems_are_one_clear_line(ray_address, data_env, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    sweep = ["sweep", "--source", PAIR[0], "--target", PAIR[1], "--profile", "smoke", "--results", "unused"]
    assert main([*sweep, "--executor", "ray", "--ray-address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach a Ray cluster at '127.0.0.1:1'") and "\n" not in err
    assert main([*sweep, "--ray-address", "auto"]) == 2
    assert "--ray-address is for --executor ray" in capsys.readouterr().err
    assert main([*sweep, "--executor", "ray", "--workers", "2"]) == 2
    assert "--workers is for --executor local" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main([*sweep, "--executor", "ray"]) == 2
    assert "needs Ray, which is not installed here: run `make setup`" in capsys.readouterr().err
    assert not Path("unused").exists()


def test_a_checkpoint_seen_late_still_starts_its_fine_tune():
    """On a shared filesystem a file another node wrote can show up late: when nothing runs,
    the Ray executor keeps looking for a while before it reports a config as blocked."""
    from transfer_laws.study import DependencyError, run_when_ready

    def outcomes(patience_s: float) -> dict:
        looks = {"n": 0}

        def ready(c):  # the fine-tune's checkpoint shows up at the third look
            looks["n"] += c["name"] == "ft"
            return c["name"] != "ft" or looks["n"] >= 3

        return {c["name"]: out for c, out in run_when_ready(
            [{"name": "pre"}, {"name": "ft"}], ready, None, slots=lambda: 1, start=lambda c: c["name"],
            wait=lambda handles: (handles[0], "done"), patience_s=patience_s)}

    assert outcomes(patience_s=5.0) == {"pre": "done", "ft": "done"}
    assert isinstance(outcomes(patience_s=0.0)["ft"], DependencyError)
