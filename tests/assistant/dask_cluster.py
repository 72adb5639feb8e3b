"""A real Dask cluster on loopback for tests: a scheduler and two workers, each its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
WORKER_CORES = 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    # The workers import the project's jobs (and tests.assistant.worker_jobs) from the checkout.
    env = {**os.environ, "PYTHONPATH": str(_ROOT), "MLCHAT_THREADS": "1"}
    env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"
    return env


@dataclass
class LocalCluster:
    """The scheduler's address and the worker processes by name."""

    address: str
    log_dir: Path
    scheduler: subprocess.Popen[bytes]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str, *, preload: bool = False, memory_limit: str = "0") -> None:
        """Start worker ``name`` (one ``cores`` resource, two threads) as its own process.

        ``preload`` imports the training jobs before the worker joins (as a deployment
        should, ``docs/dask.md``), so a first job does not pay for the imports.
        """
        log = (self.log_dir / f"{name}.log").open("ab")
        self.workers[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                self.address,
                "--name",
                name,
                "--nthreads",
                "2",
                "--resources",
                f"cores={WORKER_CORES}",
                "--no-nanny",
                "--no-dashboard",
                "--memory-limit",
                memory_limit,
                "--host",
                "127.0.0.1",
                *(["--preload", "assistant.jobs"] if preload else []),
            ],
            cwd=_ROOT,
            env=_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_for_workers(self, count: int, *, timeout_s: float = 60.0) -> None:
        """Block until ``count`` workers are connected to the scheduler."""
        from distributed import Client

        with Client(self.address, timeout=timeout_s, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=timeout_s)

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker, as the OOM killer or a lost machine would."""
        process = self.workers.pop(name)
        process.kill()
        process.wait(10)

    def stop(self) -> None:
        """Kill every process of the cluster (a test cluster keeps nothing worth a clean exit)."""
        for process in [*self.workers.values(), self.scheduler]:
            process.kill()
        for process in [*self.workers.values(), self.scheduler]:
            process.wait(10)


def start_cluster(
    log_dir: Path, *, workers: int = 2, memory_limit: str = "0", preload: bool = True
) -> LocalCluster:
    """A scheduler on a free loopback port and ``workers`` workers named w0, w1, ...

    ``memory_limit`` is each worker's (Dask's ``--memory-limit``; "0": none); ``preload``
    imports the training jobs in each worker before it joins (off: a faster start).
    """
    port = _free_port()
    log = (log_dir / "scheduler.log").open("ab")
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        cwd=_ROOT,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    cluster = LocalCluster(f"tcp://127.0.0.1:{port}", log_dir, scheduler)
    try:
        _wait_for_port(port, scheduler)
        for i in range(workers):
            cluster.start_worker(f"w{i}", preload=preload, memory_limit=memory_limit)
        cluster.wait_for_workers(workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Dask scheduler exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("the Dask scheduler did not start listening")
