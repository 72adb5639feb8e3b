"""Fit a candidate's cross-validation folds side by side where one fit leaves cores idle.

A fit on small data gets one thread (:func:`tools.threads.threads_for`), so on a process
allowed two cores the other one idles while the folds run one after another.
:func:`fold_workers` says how many folds of a family to fit at once (never more than
``allowed_threads() // threads_per_fit``, so folds x threads stay within the process's
cores) and :func:`in_order` runs them on a thread pool, handing the results back in
fold order, so the caller scores, stops and reports exactly as it does sequentially.

Threads are enough: LightGBM, XGBoost and scikit-learn's tree building release the GIL.
Only the families in :data:`PARALLEL_FOLD_FAMILIES` run side by side, and only while the
machine has a core to spare (:func:`tools.threads.machine_busy`): on the shared 2-core box random forest
folds ran 1.49x faster side by side at load ~2, but every family ran slower (0.74-0.97x)
at load ~6, where the second thread only competes with other work (``bench/threads.py``,
figures in ``bench/README.md``).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from typing import TypeVar

from tools.deadline import Deadline
from tools.threads import allowed_threads, capped, machine_busy

T = TypeVar("T")

PARALLEL_FOLD_FAMILIES: frozenset[str] = frozenset(
    {"random_forest", "lightgbm", "xgboost", "logistic_regression"}
)
"""Families whose folds measured faster fitted two at a time with one thread each."""
SIDE_BY_SIDE_FROM_ROWS: dict[str, int] = {"random_forest": 2_000, "logistic_regression": 20_000}
"""Training rows below which a family's folds stay one after another: random forest grows
its trees in small batches, and on 240 rows the Python between them holds the interpreter
(0.83x and 0.96x side by side on 300 x 8, 1.06x and 1.49x on 5,000 x 20); logistic
regression folds of 4,000 rows take 20 ms (0.77-1.02x)."""


SPLIT_CORES_FAMILIES: frozenset[str] = frozenset({"lightgbm", "logistic_regression"})
"""Families whose folds are also run side by side on large data, one thread each, rather
than one at a time with every core: on 50,000 x 30 that measured 2.9x and 6.1x (LightGBM,
load 1.3 and 2.8) and 2.4x and 2.8x (logistic regression, load 1.3 and 2.5) faster.
XGBoost measured 0.94x at load 1.8, so it keeps every core for one fold."""


def fold_plan(family: str, n_folds: int, threads_per_fit: int, *, n_rows: int) -> tuple[int, int]:
    """How many folds of ``family`` (``n_rows`` training rows each) to fit at once, and the
    threads of each fit, for fits that would get ``threads_per_fit`` threads one at a time.

    Folds x threads never exceed the process's cores. One fold at a time, with
    ``threads_per_fit``, outside :data:`PARALLEL_FOLD_FAMILIES`, below
    :data:`SIDE_BY_SIDE_FROM_ROWS`, while the machine is busy, and when a fit already gets
    every core unless the family is in :data:`SPLIT_CORES_FAMILIES`.
    """
    cores = allowed_threads()
    threads = max(int(threads_per_fit), 1)
    if family not in PARALLEL_FOLD_FAMILIES or n_folds < 2 or cores < 2:
        return 1, threads
    if threads >= cores and family not in SPLIT_CORES_FAMILIES:
        return 1, threads
    if n_rows < SIDE_BY_SIDE_FROM_ROWS.get(family, 0) or machine_busy():
        return 1, threads
    threads = min(threads, max(cores // n_folds, 1)) if threads >= cores else threads
    workers = max(1, min(n_folds, cores // threads))
    return workers, threads


def fold_workers(family: str, n_folds: int, threads_per_fit: int, *, n_rows: int) -> int:
    """How many folds :func:`fold_plan` fits at once."""
    return fold_plan(family, n_folds, threads_per_fit, n_rows=n_rows)[0]


class _Stoppable:
    """A clock that reads as the end of time once stopped, so every fit under a deadline
    on it stops at its next check (the pool's way to end the folds nobody will use)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._stopped = threading.Event()

    def __call__(self) -> float:
        return math.inf if self._stopped.is_set() else self._clock()

    def stop(self) -> None:
        self._stopped.set()


@contextmanager
def in_order(
    tasks: Sequence[Callable[[Deadline], T]],
    *,
    workers: int,
    threads_per_fit: int,
    deadline: Deadline,
) -> Iterator[Iterator[T]]:
    """Within the block, an iterator over the results of ``tasks`` in their order.

    Each task is called with the deadline its fit must stop at. With ``workers`` above 1,
    up to that many tasks run at once on threads; a task's exception is raised when its
    result is reached. Leaving the block early (the caller stops after some folds) cancels
    the tasks not yet started, stops the running ones at their next deadline check and
    waits for them, so no fit outlives the block.
    """
    if workers <= 1 or len(tasks) < 2:
        yield (task(deadline) for task in tasks)
        return
    stoppable = _Stoppable(deadline.clock)
    shared = Deadline(deadline.at_s, stoppable)
    # Native thread caps (OpenBLAS's is process-wide) and warning filters are global:
    # fits that enter and leave them concurrently restore each other's state. Holding both
    # here, at the value every fit sets, leaves the process as it was once the block ends.
    with warnings.catch_warnings(), capped(threads_per_fit):
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fold")
        try:
            # Each task runs in its own copy of the caller's context (an outer
            # fitting_until deadline stays visible to it).
            futures: list[Future[T]] = [
                pool.submit(copy_context().run, task, shared) for task in tasks
            ]
            yield (future.result() for future in futures)
        finally:
            stoppable.stop()
            pool.shutdown(wait=True, cancel_futures=True)
