"""How many threads a fit may use: every core it is given, and one on small data.

A training process gets its share of the machine through ``MLCHAT_THREADS`` (the chat
sets it for each training worker to ``cores // MLCHAT_MAX_TRAINING_JOBS``, so jobs x
threads never exceed the cores); without it, a process (``mlchat train``) uses every
core. :func:`threads_for` gives one thread to small fits, where starting threads costs
more than it saves: on a busy machine a 455-row logistic-regression fold took 0.4 s with
two BLAS threads and 0.04 s with one. :func:`capped` holds the BLAS and OpenMP pools of
the libraries (NumPy's BLAS, scikit-learn, LightGBM, XGBoost) to that number during a fit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

THREADS_ENV = "MLCHAT_THREADS"
PARALLEL_ABOVE_ROWS = 20_000
"""Fits use more than one thread only above this many training rows."""


def allowed_threads() -> int:
    """Threads this process may use: ``MLCHAT_THREADS`` if set (a whole number >= 1), else
    every core."""
    cores = os.cpu_count() or 1
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw.isdigit() and int(raw) >= 1:
        return min(int(raw), cores)
    return cores


def threads_for(n_rows: int) -> int:
    """Threads for one fit on ``n_rows`` rows."""
    return 1 if n_rows <= PARALLEL_ABOVE_ROWS else allowed_threads()


@contextmanager
def capped(n_threads: int) -> Iterator[None]:
    """Within the block, native thread pools (BLAS, OpenMP) use at most ``n_threads``
    (``allowed_threads()`` when it is below 1, as scikit-learn's ``n_jobs=-1``)."""
    limit = int(n_threads) if int(n_threads) >= 1 else allowed_threads()
    with threadpool_limits(limits=limit):
        yield
