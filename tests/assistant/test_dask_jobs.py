"""Training jobs on a real Dask cluster: a scheduler and two workers on loopback (issue 20)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from assistant.dask_jobs import dask_path_reason
from assistant.dask_worker import run_on_dask
from assistant.events import ToolFinished, ToolProgress
from assistant.jobs import TrainRequest, train_job
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.worker import WorkerDied, WorkerHandle
from tests.assistant import worker_jobs
from tests.assistant.dask_cluster import LocalCluster, start_cluster
from tools.errors import UserFacingError
from tools.io.load import file_sha256


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    started = start_cluster(tmp_path_factory.mktemp("dask-cluster"))
    yield started
    started.stop()


def _churn_csv(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    tenure = rng.integers(0, 72, n)
    charges = rng.normal(70, 20, n).round(2)
    churn = np.where(tenure + rng.normal(0, 10, n) < 20, "yes", "no")
    pd.DataFrame({"tenure": tenure, "charges": charges, "churn": churn}).to_csv(path, index=False)
    return path


def _churn_request(data: Path, out_dir: Path, **options: Any) -> TrainRequest:
    """A 60 s training job predicting ``churn`` in ``data``."""
    return TrainRequest(
        data_path=data,
        data_name=data.name,
        data_sha256=file_sha256(data),
        target="churn",
        out_dir=out_dir,
        changes={"budget_s": 60},
        **options,
    )


async def test_a_job_runs_on_a_remote_worker_and_its_progress_streams_in_order(
    cluster: LocalCluster,
) -> None:
    seen: list[dict[str, Any]] = []
    result = await run_on_dask(
        worker_jobs.where_am_i, 4, scheduler=cluster.address, on_message=seen.append
    )
    worker_pids = {p.pid for p in cluster.workers.values()}
    assert result["pid"] in worker_pids and result["pid"] != os.getpid()
    assert seen == [{"step": i, "worker": result["worker"]} for i in range(1, 5)]


async def test_a_training_job_streams_progress_and_stops_keeping_what_finished(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    data = _churn_csv(tmp_path / "churn.csv")
    request = _churn_request(data, tmp_path / "run")
    handles: list[WorkerHandle] = []
    kinds: list[str] = []

    def on_message(message: dict[str, Any]) -> None:
        kinds.append(message["kind"])
        if message.get("event") == "candidate_finished":
            handles[0].request_stop()

    started = time.monotonic()
    outcome = await run_on_dask(
        train_job,
        request,
        scheduler=cluster.address,
        on_message=on_message,
        handle_ready=handles.append,
        grace_s=30.0,
    )
    assert kinds[:2] == ["profile", "plan"] and "progress" in kinds
    assert outcome.stopped is True
    finished = [row for row in outcome.leaderboard if row["status"] == "ok"]
    assert 1 <= len(finished) < len(outcome.plan["models"])
    assert Path(outcome.files["model"]).is_file()
    assert time.monotonic() - started < 45


async def test_a_job_raising_a_user_facing_error_keeps_its_message(cluster: LocalCluster) -> None:
    with pytest.raises(UserFacingError, match=r"^The file is empty\.$"):
        await run_on_dask(worker_jobs.bad_data, scheduler=cluster.address)


async def test_a_job_no_worker_can_take_fails_clearly_instead_of_waiting(
    cluster: LocalCluster,
) -> None:
    started = time.monotonic()
    with pytest.raises(WorkerDied, match=r"No Dask worker with 64 free core\(s\) took the job"):
        await run_on_dask(
            worker_jobs.count_to, 3, scheduler=cluster.address, job_cores=64, wait_for_worker_s=1.0
        )
    assert time.monotonic() - started < 10


def _set_status(address: str, status: str) -> None:
    """Put every worker in ``status`` as Dask's memory monitor does (the same setter)."""
    from distributed import Client

    def apply(dask_worker: Any, status: str) -> None:
        from distributed.core import Status

        dask_worker.status = Status[status]

    with Client(address, set_as_default=False) as client:
        client.run(apply, status=status)


async def test_a_job_spread_over_the_cluster_ends_when_the_workers_stay_paused(
    cluster: LocalCluster,
) -> None:
    from distributed import Client, Event

    go = f"go-{time.monotonic_ns()}"
    spread = asyncio.Event()
    job = asyncio.create_task(
        run_on_dask(
            worker_jobs.spread_then_wait,
            go,
            scheduler=cluster.address,
            on_message=lambda m: spread.set(),
            paused_limit_s=1.0,
        )
    )
    try:
        await asyncio.wait_for(spread.wait(), 30)
        await asyncio.to_thread(_set_status, cluster.address, "paused")
        async with Client(cluster.address, asynchronous=True, set_as_default=False) as client:
            await Event(go, client=client).set()
        started = time.monotonic()
        with pytest.raises(WorkerDied, match=r"paused because their memory use passed") as exc:
            await asyncio.wait_for(job, 30)
        assert time.monotonic() - started < 8
        assert "Give the workers a higher memory limit or add workers" in str(exc.value)
    finally:
        await asyncio.to_thread(_set_status, cluster.address, "running")


async def test_a_job_no_worker_takes_because_all_are_paused_says_so(
    cluster: LocalCluster,
) -> None:
    await asyncio.to_thread(_set_status, cluster.address, "paused")
    try:
        with pytest.raises(WorkerDied, match=r"within 1 s \(every worker is paused"):
            await run_on_dask(
                worker_jobs.count_to, 1, scheduler=cluster.address, wait_for_worker_s=1.0
            )
    finally:
        await asyncio.to_thread(_set_status, cluster.address, "running")


async def test_a_job_whose_scheduler_goes_away_ends_with_a_message(tmp_path: Path) -> None:
    alone = start_cluster(tmp_path, workers=1, preload=False)
    try:
        seen = asyncio.Event()
        job = asyncio.create_task(
            run_on_dask(
                worker_jobs.where_am_i,
                300,
                0.1,
                scheduler=alone.address,
                on_message=lambda m: seen.set(),
                scheduler_gone_s=2.0,
            )
        )
        await asyncio.wait_for(seen.wait(), 30)
        alone.scheduler.kill()
        started = time.monotonic()
        with pytest.raises(UserFacingError, match=r"stopped answering for 2 s"):
            await asyncio.wait_for(job, 30)
        assert time.monotonic() - started < 8
    finally:
        alone.stop()


async def test_an_unreachable_scheduler_is_a_clear_message() -> None:
    with pytest.raises(UserFacingError, match="cannot be reached"):
        await run_on_dask(
            worker_jobs.count_to, 1, scheduler="tcp://127.0.0.1:9", connect_timeout_s=1.0
        )


async def test_the_chat_trains_on_the_cluster_when_the_scheduler_is_set(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {
            "MLCHAT_DATA_DIR": str(tmp_path / "data"),
            "MLCHAT_DASK_SCHEDULER": cluster.address,
            "MLCHAT_BUDGET_S": "8",
        },
        env_file=tmp_path / "none.env",
    )
    assistant = Assistant(settings)
    try:
        assistant.attach_file("t1", _churn_csv(tmp_path / "churn.csv"))
        events = [e async for e in assistant.run_turn("t1", "train a model to predict churn")]
    finally:
        await assistant.close()
    assert [e.tool for e in events if isinstance(e, ToolFinished)] == ["train_models"]
    progress = [e.message for e in events if isinstance(e, ToolProgress)]
    assert any(m.startswith("Plan: ") for m in progress)
    assert not any("training slot" in m for m in progress)  # the cluster queues, not the app
    ran = _tasks_run(cluster.address)
    assert ran.get("mlchat-job", 0) >= 1, ran


def _tasks_run(address: str) -> dict[str, int]:
    from distributed import Client

    def count(dask_scheduler: Any) -> dict[str, int]:
        return {
            name: sum(p.state_counts.values()) for name, p in dask_scheduler.task_prefixes.items()
        }

    with Client(address, set_as_default=False) as client:
        return client.run_on_scheduler(count)


async def test_a_killed_workers_job_is_retried_once_on_the_other_worker(
    cluster: LocalCluster,
) -> None:
    seen: list[dict[str, Any]] = []
    notices: list[str] = []
    killed: list[str] = []

    def on_message(message: dict[str, Any]) -> None:
        seen.append(message)
        if not killed:
            killed.append(message["worker"])
            cluster.kill_worker(message["worker"])

    try:
        result = await asyncio.wait_for(
            run_on_dask(
                worker_jobs.where_am_i,
                20,
                0.1,
                scheduler=cluster.address,
                on_message=on_message,
                report=notices.append,
                wait_for_worker_s=30.0,
            ),
            60,
        )
    finally:
        for name in killed:  # leave the module's cluster with its two workers
            cluster.start_worker(name)
        cluster.wait_for_workers(2)
    assert result["worker"] != killed[0]
    assert [m["step"] for m in seen if m["worker"] == result["worker"]] == list(range(1, 21))
    assert len(notices) == 1 and "was lost; the job starts again on another worker" in notices[0]


def _bigger_churn_csv(path: Path, n: int = 2000) -> Path:
    rng = np.random.default_rng(1)
    tenure = rng.integers(0, 72, n)
    frame = pd.DataFrame(
        {
            "tenure": tenure,
            "contract": rng.choice(["monthly", "yearly", "two years"], n),
            "charges": rng.normal(70, 20, n).round(2),
            "churn": np.where(tenure + rng.normal(0, 10, n) < 20, "yes", "no"),
        }
    )
    frame.to_csv(path, index=False)
    return path


async def test_a_file_above_the_threshold_trains_through_dask_and_ships_a_raw_row_model(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    data = _bigger_churn_csv(tmp_path / "churn.csv")
    request = _churn_request(data, tmp_path / "run", dask_above_bytes=10_000)  # the file is ~100 kB
    plans: list[str] = []
    outcome = await run_on_dask(
        train_job,
        request,
        scheduler=cluster.address,
        on_message=lambda m: plans.append(m["description"]) if m["kind"] == "plan" else None,
    )
    assert len(plans) == 1 and "Validation: a holdout of 20% of the rows." in plans[0]
    assert "MB, above the 0.01 MB threshold MLCHAT_DASK_ABOVE_MB" in plans[0]
    assert outcome.plan_description == plans[0]
    assert sorted(row["family"] for row in outcome.leaderboard) == ["lightgbm", "xgboost"]
    assert all(row["status"] == "ok" for row in outcome.leaderboard)
    assert "partitions, 2,000 rows" in " ".join(outcome.notes)
    assert outcome.cv_metrics["roc_auc"] > 0.9
    saved = joblib.load(outcome.files["model"])
    raw = pd.read_csv(data)
    predicted = saved.predict(raw.drop(columns=["churn"]))
    assert set(predicted) == {"yes", "no"} and (predicted == raw["churn"]).mean() > 0.85
    assert Path(outcome.files["report"]).is_file() and Path(outcome.files["card"]).is_file()


def test_the_dask_path_stops_long_fits_mid_fit_and_ends_the_run_on_time(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client

    from tools import dask_train
    from tools.deadline import Deadline

    planned = 100_000  # rounds no fit finishes in the budget: the deadline must stop it
    shared = dask_train._shared_params
    monkeypatch.setattr(
        dask_train, "_shared_params", lambda f, p: {**shared(f, p), "n_estimators": planned}
    )
    data = _bigger_churn_csv(tmp_path / "churn.csv", n=8000)  # partitions on both workers
    budget_s = 8.0
    started = time.monotonic()
    with Client(cluster.address) as client:  # the default client, as on a worker
        trained = dask_train.train_on_dask(
            data,
            target="churn",
            client=client,
            changes={"budget_s": budget_s},
            max_bytes=10**9,
            deadline=Deadline.after(budget_s),
        )
    wall_s = time.monotonic() - started
    assert wall_s <= 1.1 * budget_s + 2.0
    assert trained.n_partitions >= 2
    # a loaded machine may leave the second family no time: skipped, never over the budget
    ok = [row for row in trained.result.leaderboard if row.status == "ok"]
    skipped = [row for row in trained.result.leaderboard if row.status != "ok"]
    assert ok and all(row.message == "skipped: out of time" for row in skipped), skipped
    assert all(f"of {planned} rounds (stopped at its share" in row.message for row in ok), ok
    assert 1 <= dask_train.boosted_rounds(trained.result.model.pipeline_.steps[-1][1]) < planned
    assert trained.result.cv_metrics["roc_auc"] > 0.8


def test_small_files_and_jobs_off_the_cluster_take_the_single_machine_path(tmp_path: Path) -> None:
    data = _churn_csv(tmp_path / "churn.csv")
    request = TrainRequest(
        data_path=data,
        data_name="churn.csv",
        data_sha256="0",
        target="churn",
        out_dir=tmp_path / "run",
        dask_above_bytes=data.stat().st_size,
    )
    assert dask_path_reason(request) is None  # not above the threshold
    request = dataclasses.replace(request, dask_above_bytes=0)
    assert dask_path_reason(request) is None  # above it, but not running on a Dask worker


def test_the_cluster_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "MLCHAT_DATA_DIR": str(tmp_path),
            "MLCHAT_DASK_SCHEDULER": "tcp://scheduler.example:8786",
            "MLCHAT_DASK_JOB_CORES": "2",
            "MLCHAT_DASK_PAUSED_S": "30",
        },
        env_file=tmp_path / "none.env",
    )
    cluster = settings.cluster
    assert (cluster.scheduler, cluster.job_cores, cluster.paused_limit_s) == (
        "tcp://scheduler.example:8786",
        2,
        30.0,
    )
    assert Settings.from_env({}, env_file=tmp_path / "none.env").cluster.scheduler is None
    with pytest.raises(ValueError, match="MLCHAT_DASK_SCHEDULER must look like tcp://host:port"):
        Settings.from_env({"MLCHAT_DASK_SCHEDULER": "somewhere"}, env_file=tmp_path / "none.env")


def test_work_that_would_load_a_big_file_into_one_worker_is_refused(tmp_path: Path) -> None:
    from assistant.errors import ToolError
    from assistant.settings import ClusterSettings
    from assistant.toolbox._cluster_size import refuse_beyond_one_worker

    csv, excel = tmp_path / "big.csv", tmp_path / "big.xlsx"
    for path in (csv, excel):
        path.write_bytes(b"x" * (2 << 20))  # 2 MB, above a 1 MB threshold
    cluster = ClusterSettings(scheduler="tcp://127.0.0.1:8786", dask_above_mb=1)
    refuse_beyond_one_worker(cluster, csv, "train")  # read in pieces: allowed
    with pytest.raises(ToolError, match=r"^This \.xlsx file cannot be trained on the cluster"):
        refuse_beyond_one_worker(cluster, excel, "train")
    with pytest.raises(ToolError, match=r"^Tuning is not available for this file: at 2 MB"):
        refuse_beyond_one_worker(cluster, csv, "tune")
    with pytest.raises(ToolError, match=r"does not use derived features yet") as exc:
        refuse_beyond_one_worker(cluster, csv, "features")
    assert "attach an extract of the file below 1 MB" in str(exc.value)
    for fine in (
        dataclasses.replace(cluster, dask_above_mb=2),  # not above the threshold
        dataclasses.replace(cluster, scheduler=None),  # one machine: no Dask path
    ):
        for action in ("train", "tune", "features"):
            refuse_beyond_one_worker(fine, excel, action)  # type: ignore[arg-type]
