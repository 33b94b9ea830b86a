"""Sweeps on a Ray cluster: each run is one Ray task, started in dependency order.

The runs write their records and checkpoints under ``--results`` themselves, exactly as
on one machine, so that folder must be one every node sees at the same path (a shared
filesystem): the driver starts a fine-tune once it sees its pre-training checkpoint there,
and a driver killed and started again finds there every record finished so far. Before the
first run, a probe on every node checks what the runs will need there (it imports the
project, sees and can write the results folder, reads the study's data) and a node that
fails is named with what it lacks, instead of the sweep hanging or failing run by run.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import InputError
from .study import Study, _always, _set_threads, run_when_ready

RETRIES = 3  # a run whose worker process or node dies is started again, this often at most
# How long a fine-tune may wait to see the checkpoint of its finished pretrain run: NFS
# caches "no such file" for up to a minute by default.
VISIBLE_WITHIN_S = 60.0
CHECK_TIMEOUT_S = 120.0


class ClusterError(InputError):
    """The cluster cannot run the sweep: Ray missing or unreachable, or a node lacking what runs need."""


class RayExecutor:
    """Runs each config as one Ray task that asks for ``cpus_per_run`` CPUs (the run's torch
    threads) and ``gpus_per_run`` GPUs (None: one when the cluster has GPUs, as the local
    executors use cuda when it is available). No more runs are in flight than the cluster
    has room for, so the order of the configs, ``ready`` and ``deadline`` mean what they
    mean on one machine. Ray starts a run again when its worker process or node dies.

    ``shared`` is the folder every node must see; ``node_check`` ("module:function") is
    called with ``check_kwargs`` on every node and returns what that node lacks."""

    def __init__(self, address: str | None = None, cpus_per_run: int = 1, gpus_per_run: int | None = None,
                 shared: str | None = None, node_check: str | None = None,
                 check_kwargs: dict[str, Any] | None = None):
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.shared = shared
        self.node_check = node_check
        self.check_kwargs = check_kwargs or {}

    def map(self, fn, configs, ready=_always, deadline=None, **kwargs) -> Iterator[tuple[dict, Any]]:
        configs = list(configs)
        if not configs:
            return
        ray, started = self._connect()
        try:
            gpus = self.gpus_per_run
            if gpus is None:
                gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
            if self._room(ray, gpus) == 0:
                have = ray.cluster_resources()
                raise ClusterError(f"a run asks for {self.cpus_per_run} CPU(s) and {gpus} GPU(s), but the Ray "
                                   f"cluster has {have.get('CPU', 0):g} CPUs and {have.get('GPU', 0):g} GPUs in all; "
                                   f"add nodes, or lower [resources] in the profile")
            self._check_nodes(ray)
            task = ray.remote(_call).options(num_cpus=self.cpus_per_run, num_gpus=gpus, max_retries=RETRIES)
            # The cluster may grow or shrink during the sweep; with no room left a run
            # waits in Ray's queue for a node rather than being reported as blocked.
            yield from run_when_ready(
                configs, ready, deadline, slots=lambda: max(1, self._room(ray, gpus)),
                start=lambda c: task.remote(fn, c, self.cpus_per_run, {**kwargs, "progress": False}),
                wait=_first_finished, patience_s=VISIBLE_WITHIN_S)
        finally:
            if started:
                ray.shutdown()

    def _connect(self):
        """The ray module, connected; and whether this call started the connection."""
        try:
            import ray
        except ImportError:
            raise ClusterError("--executor ray needs Ray, which is not installed here: run `make setup` "
                               "(or `pip install 'transfer-laws[ray]'`)") from None
        _check_reachable(self.address)
        if ray.is_initialized():
            return ray, False
        import logging

        from .records import COMMIT_ENV, git_commit

        # Runs record the commit the sweep started from, as in the local pool's workers.
        env = {"env_vars": {COMMIT_ENV: git_commit() or ""}}
        local = {} if self.address else {"include_dashboard": False}
        try:
            ray.init(address=self.address or "local", runtime_env=env, logging_level=logging.WARNING, **local)
        except ConnectionError as e:
            raise ClusterError(f"cannot connect to the Ray cluster {self.address!r}: {e} Start one with "
                               f"`ray start --head`, or leave out --ray-address for a local Ray instance") from None
        return ray, True

    def _room(self, ray, gpus: int) -> int:
        have = ray.cluster_resources()
        room = int(have.get("CPU", 0) // self.cpus_per_run)
        return min(room, int(have.get("GPU", 0) // gpus)) if gpus else room

    def _check_nodes(self, ray) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        token = uuid.uuid4().hex
        marker = Path(self.shared) / f".ray-check-{token}" if self.shared else None
        if marker:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(token)
        try:
            probe = ray.remote(_make_probe())
            nodes = {probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                     .remote(self.shared, token, self.node_check, self.check_kwargs): n
                     for n in ray.nodes() if n["Alive"]}
            answered, silent = ray.wait(list(nodes), num_returns=len(nodes), timeout=CHECK_TIMEOUT_S)
            problems = []
            for ref in answered:
                try:
                    host, lacks = ray.get(ref)
                except ray.exceptions.RayError as e:
                    host, lacks = "?", [f"the check could not run: {str(e).strip().splitlines()[-1]}"]
                problems += [f"node {host} ({nodes[ref]['NodeManagerAddress']}) {what}" for what in lacks]
            for ref in silent:
                ray.cancel(ref, force=True)
                problems.append(f"node {nodes[ref]['NodeManagerAddress']} did not answer the check within "
                                f"{CHECK_TIMEOUT_S:.0f} s: can Ray start a worker there (see its Ray logs)?")
        finally:
            if marker:
                marker.unlink(missing_ok=True)
        if problems:
            raise ClusterError("; ".join(problems))


def _call(fn: Callable[..., dict], config: dict, threads: int, kwargs: dict) -> dict:
    """One run, as a Ray task."""
    _set_threads(threads)
    return fn(config, **kwargs)


def _first_finished(refs: list) -> tuple[Any, Any]:
    import ray

    [ref], _ = ray.wait(refs, num_returns=1)
    try:
        return ref, ray.get(ref)
    except ray.exceptions.RayTaskError as e:  # the run raised: report its own exception, as locally
        return ref, e.cause if isinstance(e.cause, Exception) else e
    except ray.exceptions.RayError as e:  # its worker or node died more often than it was retried
        return ref, e


def _check_reachable(address: str | None) -> None:
    """Ray waits minutes on an address where nothing answers; a plain connection says so at once."""
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except (OSError, ValueError) as e:
        raise ClusterError(f"cannot reach a Ray cluster at {address!r} ({e}): give the address `ray start "
                           f"--head` printed (host:port), or 'auto' on a node of the cluster") from None


def _make_probe() -> Callable:
    # A nested function is shipped to the nodes by value, not as a reference into this
    # package, so it runs even where the package cannot be imported and can say so.
    def probe(shared: str | None, token: str, check: str | None, check_kwargs: dict) -> tuple[str, list[str]]:
        import importlib
        import os
        import socket

        lacks = []
        if shared:
            marker = os.path.join(shared, f".ray-check-{token}")
            try:
                with open(marker) as f:
                    seen = f.read() == token
            except OSError:
                seen = False
            if not seen:
                lacks.append(f"does not see the results folder {shared}: it must be on a filesystem every "
                             f"node shares, at the same path")
            else:
                mine = f"{marker}-{os.getpid()}"
                try:
                    open(mine, "w").close()
                    os.unlink(mine)
                except OSError as e:
                    lacks.append(f"cannot write to the results folder {shared}: {e}")
        if check:
            module, _, name = check.partition(":")
            try:
                fn = getattr(importlib.import_module(module), name)
            except Exception as e:
                lacks.append(f"cannot import {module} ({type(e).__name__}: {e}): install this project, at the "
                             f"driver's version, into the Python environment Ray runs there")
            else:
                lacks += fn(**check_kwargs)
        return socket.gethostname(), lacks

    return probe


def check_data(data_dir: str, distributions: list[str]) -> list[str]:
    """On a node: the study's data it cannot read (the token files every run reads)."""
    from .data import DataStore

    store = DataStore(data_dir)
    lacks = []
    for name in distributions:
        for split in ("train", "validation"):
            try:
                store.tokens(name, split)
            except Exception as e:
                lacks.append(f"cannot read the data of {name!r} under {data_dir} ({e}); copy the data folder to "
                             f"the same path on every node, or put it on the shared filesystem")
                break
    return lacks


def sweep_executor(study: Study, address: str | None = None, device: str | None = None) -> RayExecutor:
    """The Ray executor for a study's sweep. A profile may ask for its runs' resources in a
    ``[resources]`` table: ``cpus`` (threads per run, default 1) and ``gpus`` (default: 1
    with ``--device cuda``, 0 with ``--device cpu``, else 1 when the cluster has GPUs).
    The study's results and data folders must be absolute paths, the same on every node."""
    res = study.profile.get("resources", {})
    default_gpus = None if device is None else int(device.startswith("cuda"))
    cpus, gpus = res.get("cpus", 1), res.get("gpus", default_gpus)
    if not isinstance(cpus, int) or cpus < 1 or not (gpus is None or (isinstance(gpus, int) and gpus >= 0)):
        raise InputError(f"profile {study.profile['name']!r}: [resources] cpus must be a positive integer and "
                         f"gpus a non-negative integer (got cpus={cpus!r}, gpus={gpus!r})")
    for what, path in (("results", study.results), ("data", study.data_dir)):
        if path is None or not Path(path).is_absolute():
            raise ValueError(f"the study's {what} folder must be an absolute path on a cluster, got {path!r}")
    return RayExecutor(address, cpus, gpus, shared=str(study.results),
                       node_check="transfer_laws.ray_executor:check_data",
                       check_kwargs={"data_dir": str(study.data_dir), "distributions": [study.source, study.target]})
