"""Cluster: many conversations training at once on a Dask cluster, and a table bigger than a worker.

Everything runs on 127.0.0.1 (issue 20); nothing is downloaded.

Phase 1, cluster: a PostgreSQL server, a Dask scheduler with two workers (one ``cores``
resource each), and ``--instances`` Chainlit app instances (default 2) sharing the
database (``MLCHAT_DATABASE_URL``), the data folder and the scheduler
(``MLCHAT_DASK_SCHEDULER``). ``--sessions`` conversations (default 40), spread over the
instances, each attach a small CSV and ask to train, all at once, while one more
conversation per instance sends "hello" and times each reply. Reported: models
finished (threads with a finished run), plain-reply p95, lost messages (turns sent
that never got their reply: timed out, or the socket dropped), wall time and
models per minute.

Phase 2, one machine: the same conversations on one app instance with SQLite and its
local worker pool (no scheduler): the throughput baseline.

Phase 3, bigger than a worker: the two workers restart with ``--worker-memory``
(default 1 GiB) each; a CSV whose table takes more memory than that (``--big-rows``
rows of 8 float64 features and a label) trains through the Dask path
(``xgboost.dask``, LightGBM's Dask estimators). The single-machine path trains on a
sample of ``--sample-rows`` rows. Both shipped ``model.joblib`` files are scored on the
same held-out test file.

Usage::

    .venv/bin/python bench/cluster.py [--sessions 40] [--instances 2] [--big-rows 16000000]
        [--worker-memory 1GiB] [--skip-phase2] [--skip-phase3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    LoadServer,
    Session,
    bench_parser,
    chatter,
    login,
    percentile,
    run_and_report,
    small_csv,
)
from tests.assistant.dask_cluster import start_cluster  # noqa: E402
from tests.postgres import new_database, postgres_server  # noqa: E402

FEATURES = [f"x{i}" for i in range(8)]


class ClusterServer(LoadServer):
    """The load server with extra settings (scheduler, database, budget) that win."""

    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str]) -> None:
        super().__init__(data_dir, log_path, env=env)

    def _environment(self) -> dict[str, str]:
        return {**super()._environment(), **self.extra_env}


async def _conversations(
    servers: list[ClusterServer], base: Path, sessions: int, budget_s: int, timeout_s: float
) -> dict[str, Any]:
    """``sessions`` trainings at once over ``servers``, a timed chatter on each."""
    async with aiohttp.ClientSession() as http:
        cookies = [await login(http, s.url) for s in servers]
        talkers = [Session(s.url, http, c) for s, c in zip(servers, cookies, strict=True)]
        for talker in talkers:
            await talker.connect()
            await talker.say("hello", timeout_s=60)  # warm
        users = [
            Session(servers[i % len(servers)].url, http, cookies[i % len(servers)])
            for i in range(sessions)
        ]
        await asyncio.gather(*(u.connect() for u in users))
        files = []
        for index, user in enumerate(users):
            path = base / f"table-{index}.csv"
            small_csv(path, index)
            files.append(await user.upload(path))
        stop = asyncio.Event()
        talking = [asyncio.create_task(chatter(t, stop, 0.5)) for t in talkers]
        started = time.monotonic()
        turns = await asyncio.gather(
            *(
                u.say(
                    f"train a model to predict y with a {budget_s} second budget",
                    files=[f],
                    timeout_s=timeout_s,
                )
                for u, f in zip(users, files, strict=True)
            ),
            return_exceptions=True,
        )
        wall_s = time.monotonic() - started
        stop.set()
        latencies = [x for lat in await asyncio.gather(*talking) for x in lat]
        unanswered = sum(1 for t in turns if isinstance(t, BaseException))
        got_model = sum(1 for u in users if any(e.endswith(".joblib") for e in u.elements))
        dropped = sum(1 for u in users if u.disconnected)  # by the server, before we close
        await asyncio.gather(*(u.close() for u in users), return_exceptions=True)
        for talker in talkers:
            await talker.close()
    return {
        "wall_s": round(wall_s, 1),
        "sessions_offered_a_model": got_model,
        "lost_messages": unanswered,
        "sessions_disconnected": dropped,
        "plain_replies": len(latencies),
        "plain_reply_p50_s": round(percentile(latencies, 0.5), 3),
        "plain_reply_p95_s": round(percentile(latencies, 0.95), 3),
    }


def _finished_runs(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sa.text(  # mlchat's tables live in the schema "mlchat" on PostgreSQL
                        "SELECT count(DISTINCT thread_id) FROM mlchat.runs WHERE status = 'finished'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _finished_runs_sqlite(data_dir: Path) -> int:
    import sqlite3

    db = sqlite3.connect(data_dir / "mlchat.db")
    try:
        row = db.execute(
            "SELECT count(DISTINCT thread_id) FROM runs WHERE status = 'finished'"
        ).fetchone()
    finally:
        db.close()
    return int(row[0])


async def phase_cluster(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    base.mkdir(parents=True)
    cluster = start_cluster(base)
    servers: list[ClusterServer] = []
    try:
        with postgres_server("mlchat-bench-cluster-") as server_url:
            url = new_database(server_url)
            env = {
                "MLCHAT_DASK_SCHEDULER": cluster.address,
                "MLCHAT_DATABASE_URL": url,
                "MLCHAT_BUDGET_S": str(args.budget_s),
            }
            for index in range(args.instances):
                server = ClusterServer(base / "data", base / f"app-{index}.log", env)
                server.start()
                servers.append(server)
            result = await _conversations(
                servers, base, args.sessions, args.budget_s, args.turn_timeout_s
            )
            result["models_finished"] = _finished_runs(url)
            for server in servers:
                server.stop()
            servers = []
    finally:
        for server in servers:
            server.stop()
        cluster.stop()
    result["instances"] = args.instances
    result["models_per_minute"] = round(60 * result["models_finished"] / result["wall_s"], 2)
    return result


async def phase_one_machine(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    base.mkdir(parents=True)
    server = ClusterServer(base / "data", base / "app.log", {"MLCHAT_BUDGET_S": str(args.budget_s)})
    server.start()
    try:
        result = await _conversations(
            [server], base, args.sessions, args.budget_s, args.turn_timeout_s
        )
    finally:
        server.stop()
    result["models_finished"] = _finished_runs_sqlite(base / "data")
    result["models_per_minute"] = round(60 * result["models_finished"] / result["wall_s"], 2)
    return result


def _write_table(path: Path, rows: int, seed: int) -> None:
    """``rows`` rows of 8 features and a yes/no label with a nonlinear signal, in chunks."""
    rng = np.random.default_rng(seed)
    chunk = 500_000
    with path.open("w") as handle:
        handle.write(",".join([*FEATURES, "label"]) + "\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
            signal = x[:, 0] * x[:, 1] + np.sin(2 * x[:, 2]) + 0.5 * x[:, 3] - np.abs(x[:, 4])
            label = np.where(signal + rng.normal(scale=0.7, size=n) > 0, "yes", "no")
            frame = pd.DataFrame(x, columns=FEATURES).round(4)
            frame["label"] = label
            frame.to_csv(handle, header=False, index=False)


async def phase_big(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    import joblib
    from sklearn.metrics import roc_auc_score

    from assistant.dask_worker import run_on_dask
    from assistant.jobs import TrainRequest, train_job
    from assistant.worker import run_in_worker
    from tools.io.load import file_sha256

    base.mkdir(parents=True)
    tables = args.tables or base
    tables.mkdir(parents=True, exist_ok=True)
    big, sample, test = tables / "big.csv", tables / "sample.csv", tables / "test.csv"
    started = time.monotonic()
    if not big.is_file():  # --tables reuses the files of an earlier run with the same sizes
        _write_table(big, args.big_rows, seed=1)
        _write_table(sample, args.sample_rows, seed=2)
        _write_table(test, 200_000, seed=3)
    result: dict[str, Any] = {
        "rows": args.big_rows,
        "file_mb": round(big.stat().st_size / 2**20),
        "in_memory_mb": round(args.big_rows * (len(FEATURES) * 8 + 8) / 2**20),
        "worker_memory_limit": args.worker_memory,
        "generate_s": round(time.monotonic() - started, 1),
    }
    if not args.pause:
        # A worker above 80% of its limit pauses: with every worker paused, the tasks the
        # distributed fit waits for never run (seen with 1 GiB workers). Spilling stays on.
        os.environ["DASK_DISTRIBUTED__WORKER__MEMORY__PAUSE"] = "False"
    cluster = start_cluster(base, memory_limit=args.worker_memory)
    peak = {"rss_mb": 0.0}
    watching = True

    async def watch() -> None:
        while watching:
            for process in cluster.workers.values():
                with contextlib.suppress(psutil.NoSuchProcess):
                    rss = psutil.Process(process.pid).memory_info().rss / 2**20
                    peak["rss_mb"] = max(peak["rss_mb"], rss)
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch())
    try:
        plans: list[str] = []
        request = TrainRequest(
            data_path=big,
            data_name=big.name,
            data_sha256=file_sha256(big),
            target="label",
            out_dir=base / "run-dask",
            changes={"budget_s": args.big_budget_s},
            max_bytes=8 << 30,
            dask_above_bytes=0,
        )
        started = time.monotonic()
        outcome = await asyncio.wait_for(
            run_on_dask(
                train_job,
                request,
                scheduler=cluster.address,
                on_message=lambda m: (
                    plans.append(m["description"]) if m["kind"] == "plan" else None
                ),
                wait_for_worker_s=600,
            ),
            args.big_timeout_s,
        )
        result["dask_train_s"] = round(time.monotonic() - started, 1)
        result["dask_plan_path_line"] = plans[-1].splitlines()[-1] if plans else None
        result["dask_holdout_roc_auc"] = round(outcome.cv_metrics["roc_auc"], 4)
    finally:
        watching = False
        await watcher
        cluster.stop()
    result["worker_peak_rss_mb"] = round(peak["rss_mb"])
    local = TrainRequest(
        data_path=sample,
        data_name=sample.name,
        data_sha256=file_sha256(sample),
        target="label",
        out_dir=base / "run-local",
        changes={"budget_s": args.big_budget_s},
    )
    started = time.monotonic()
    local_outcome = await run_in_worker(train_job, local)
    result["sample_rows"] = args.sample_rows
    result["single_machine_train_s"] = round(time.monotonic() - started, 1)
    result["single_machine_best"] = local_outcome.best_family
    result["single_machine_cv_roc_auc"] = round(local_outcome.cv_metrics["roc_auc"], 4)
    scored = pd.read_csv(test)
    truth = (scored.pop("label") == "yes").to_numpy()
    for name, run in (("dask", outcome), ("single_machine", local_outcome)):
        model = joblib.load(run.files["model"])
        positive = list(model.classes_).index("yes")
        result[f"{name}_test_roc_auc"] = round(
            float(roc_auc_score(truth, model.predict_proba(scored)[:, positive])), 4
        )
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="mlchat-bench-cluster-"))
    results: dict[str, Any] = {"sessions": args.sessions, "budget_s": args.budget_s}
    try:
        if not args.skip_phase1:
            results["cluster"] = await phase_cluster(args, base / "phase1")
            print(json.dumps({"cluster": results["cluster"]}), flush=True)
        if not args.skip_phase2:
            results["one_machine"] = await phase_one_machine(args, base / "phase2")
            print(json.dumps({"one_machine": results["one_machine"]}), flush=True)
        if not args.skip_phase3:
            results["bigger_than_a_worker"] = await phase_big(args, base / "phase3")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> int:
    parser = bench_parser(__doc__, sessions=40, turn_timeout_s=900)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--budget-s", type=int, default=10)
    parser.add_argument("--big-rows", type=int, default=16_000_000)
    parser.add_argument("--sample-rows", type=int, default=200_000)
    parser.add_argument("--big-budget-s", type=int, default=120)
    parser.add_argument("--worker-memory", default="1GiB")
    parser.add_argument("--pause", action="store_true", help="keep Dask's pause at 80%% memory")
    parser.add_argument("--big-timeout-s", type=float, default=1800)
    parser.add_argument("--tables", type=Path, help="folder to keep and reuse phase 3's CSVs")
    parser.add_argument("--skip-phase1", action="store_true")
    parser.add_argument("--skip-phase2", action="store_true")
    parser.add_argument("--skip-phase3", action="store_true")
    results = run_and_report(run, parser.parse_args())
    cluster = results.get("cluster", {})
    return 0 if not cluster or cluster.get("lost_messages") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
