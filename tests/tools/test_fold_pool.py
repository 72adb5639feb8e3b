"""Folds side by side: same results as one after another, cores never oversubscribed,
stop and deadline still honoured."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

import tools.search.fold_pool as fold_pool
from tools.analyze.profile import profile_table
from tools.deadline import Deadline, active_deadline, fitting_until
from tools.plan import build_plan
from tools.search.fold_pool import fold_plan, fold_workers, in_order
from tools.search.results import TrainProgress
from tools.search.train import train


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process may use two cores, and every family runs its folds side by side."""
    monkeypatch.setattr(fold_pool, "allowed_threads", lambda: 2)
    monkeypatch.setattr(fold_pool, "machine_busy", lambda: False)
    monkeypatch.setattr(fold_pool, "PARALLEL_FOLD_FAMILIES", frozenset({"a", "b"}))


def test_folds_times_threads_never_exceed_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold_pool, "machine_busy", lambda: False)
    for cores in (1, 2, 3, 4, 8):
        monkeypatch.setattr(fold_pool, "allowed_threads", lambda cores=cores: cores)
        for family in ("lightgbm", "random_forest", "naive_bayes"):
            for threads in {1, cores}:  # what threads_for gives: 1 or every core
                for n_folds in (1, 2, 5, 10):
                    workers, each = fold_plan(family, n_folds, threads, n_rows=30_000)
                    assert 1 <= workers <= n_folds and 1 <= each <= threads
                    assert workers * each <= max(cores, threads)
    monkeypatch.setattr(fold_pool, "allowed_threads", lambda: 8)
    assert fold_plan("lightgbm", 5, 1, n_rows=1_000) == (5, 1)
    assert fold_plan("lightgbm", 2, 8, n_rows=40_000) == (2, 4)  # the cores split across folds
    assert fold_plan("random_forest", 5, 8, n_rows=40_000) == (1, 8)  # not measured: unchanged
    assert fold_plan("xgboost", 5, 8, n_rows=40_000) == (1, 8)  # measured slower split
    assert fold_workers("naive_bayes", 5, 1, n_rows=1_000) == 1  # not measured faster side by side
    assert fold_workers("random_forest", 5, 1, n_rows=240) == 1  # measured slower on tiny data
    assert fold_workers("random_forest", 5, 1, n_rows=4_000) == 5
    assert fold_workers("logistic_regression", 5, 1, n_rows=4_000) == 1
    assert fold_plan("logistic_regression", 5, 8, n_rows=40_000) == (5, 1)
    monkeypatch.setattr(fold_pool, "machine_busy", lambda: True)
    assert fold_plan("lightgbm", 5, 1, n_rows=1_000) == (1, 1)  # other work holds the cores


def test_tasks_run_side_by_side_at_most_workers_at_once_and_return_in_order(
    two_cores: None,
) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    native: list[int] = []

    def task(number: int) -> object:
        def run(until: Deadline) -> int:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            # BLAS pools are process-wide (OpenMP's is per thread: each fit caps its own).
            native.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
            time.sleep(0.05 * (5 - number))  # later folds finish first
            with lock:
                running -= 1
            return number

        return run

    before = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
    deadline = Deadline(time.monotonic() + 60)
    with in_order(
        [task(n) for n in range(5)], workers=2, threads_per_fit=1, deadline=deadline
    ) as results:
        assert list(results) == [0, 1, 2, 3, 4]
    assert most == 2
    assert native and set(native) == {1}  # process-wide native pools held to one thread
    assert {p["internal_api"]: p["num_threads"] for p in threadpool_info()} == before


def test_leaving_early_stops_running_fits_and_cancels_the_rest(two_cores: None) -> None:
    now = [0.0]
    deadline = Deadline(100.0, lambda: now[0])  # fake clock: never passes by itself
    started: list[int] = []
    stopped = threading.Event()

    def task(number: int) -> object:
        def run(until: Deadline) -> int:
            started.append(number)
            if number == 0:
                return 0
            while not until.passed():  # a fit checking its deadline between rounds
                time.sleep(0.005)
            stopped.set()
            return number

        return run

    began = time.monotonic()
    with in_order(
        [task(n) for n in range(5)], workers=2, threads_per_fit=1, deadline=deadline
    ) as results:
        assert next(results) == 0  # the caller stops after the first fold
    assert stopped.is_set()  # the running fold was told to stop, and waited for
    assert time.monotonic() - began < 5
    assert len(started) <= 3  # fold 0, the running one, at most one picked up meanwhile


def test_the_deadline_still_stops_fits_side_by_side(two_cores: None) -> None:
    now = [0.0]
    deadline = Deadline(10.0, lambda: now[0])
    seen: list[Deadline | None] = []

    def run(until: Deadline) -> float:
        with fitting_until(until):
            seen.append(active_deadline())
            while not until.passed():
                time.sleep(0.005)
            return now[0]

    timer = threading.Timer(0.1, lambda: now.__setitem__(0, 10.0))
    timer.start()
    outer = Deadline(5.0, lambda: now[0])  # the caller's own, earlier deadline
    with (
        fitting_until(outer),
        in_order([run, run], workers=2, threads_per_fit=1, deadline=deadline) as results,
    ):
        assert list(results) == [10.0, 10.0]
    timer.join()
    assert [d.at_s for d in seen if d is not None] == [5.0, 5.0]  # the caller's context is kept


def test_a_failing_fold_raises_when_its_turn_comes(two_cores: None) -> None:
    def ok(until: Deadline) -> str:
        return "ok"

    def fails(until: Deadline) -> str:
        raise ValueError("fold 2")

    deadline = Deadline(time.monotonic() + 60)
    with in_order([ok, fails, ok], workers=2, threads_per_fit=1, deadline=deadline) as results:
        assert next(results) == "ok"
        with pytest.raises(ValueError, match="fold 2"):
            next(results)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(300, 6)), columns=[f"x{i}" for i in range(6)])
    frame["y"] = np.where(frame["x0"] - frame["x1"] + rng.normal(size=300) > 0, "yes", "no")
    return frame


def _search(
    frame: pd.DataFrame, side_by_side: bool, monkeypatch: pytest.MonkeyPatch, **kw: object
) -> object:
    models = ["logistic_regression", "lightgbm"]
    monkeypatch.setattr(fold_pool, "allowed_threads", lambda: 2)
    monkeypatch.setattr(fold_pool, "machine_busy", lambda: False)
    monkeypatch.setattr(
        fold_pool, "PARALLEL_FOLD_FAMILIES", frozenset(models if side_by_side else ())
    )
    monkeypatch.setattr(fold_pool, "SIDE_BY_SIDE_FROM_ROWS", {})
    profile = profile_table(frame, target="y")
    plan = build_plan(profile, budget_s=60).model_copy(update={"models": models})
    return train(frame, plan, profile=profile, refit=False, **kw)  # type: ignore[arg-type]


def test_side_by_side_folds_give_the_same_results(
    table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = _search(table, False, monkeypatch)
    two = _search(table, True, monkeypatch)
    assert [(r.family, r.score, r.std, r.n_folds) for r in one.leaderboard] == [  # type: ignore[attr-defined]
        (r.family, r.score, r.std, r.n_folds)
        for r in two.leaderboard  # type: ignore[attr-defined]
    ]
    for family in ("logistic_regression", "lightgbm"):
        np.testing.assert_array_equal(one.oof[family], two.oof[family])  # type: ignore[attr-defined]


def test_should_stop_is_still_polled_between_folds_and_progress_stays_in_order(
    table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str | None]] = []

    def record(progress: TrainProgress) -> None:
        events.append((progress.kind, progress.candidate.status if progress.candidate else None))

    def stop() -> bool:  # once the second candidate has started
        return [kind for kind, _ in events].count("candidate_started") >= 2

    result = _search(table, True, monkeypatch, should_stop=stop, on_progress=record)
    board = {r.family: r for r in result.leaderboard}  # type: ignore[attr-defined]
    assert board["logistic_regression"].status == "ok"
    assert board["lightgbm"].status == "skipped"
    assert board["lightgbm"].message == "stopped after 1 of 5 folds."
    assert events[:5] == [
        ("started", None),
        ("candidate_started", None),
        ("candidate_finished", "ok"),
        ("candidate_started", None),
        ("candidate_finished", "skipped"),
    ]
