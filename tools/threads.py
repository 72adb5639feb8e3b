"""How many threads a fit may use: every core it is given, and one on small data.

A training process gets its share of the machine through ``MLCHAT_THREADS`` (the chat
sets it for each training worker to ``cores // MLCHAT_MAX_TRAINING_JOBS``, so jobs x
threads never exceed the cores); without it, a process (``mlchat train``) uses every
core. :func:`threads_for` gives one thread to small fits, where starting threads costs
more than it saves: on a busy machine a 455-row logistic-regression fold took 0.4 s with
two BLAS threads and 0.04 s with one. :func:`capped` holds the BLAS and OpenMP pools of
the libraries (NumPy's BLAS, scikit-learn, LightGBM, XGBoost) to that number during a fit.

On a busy machine (:func:`machine_busy`) every fit gets one thread: an OpenMP pool whose
threads wait at a barrier for one that other work has descheduled is far slower than one
thread. On the shared 2-core box at load ~4-5, a LightGBM fit on 40,000 x 30 took a median
40 s with two threads and 2.5 s with one; XGBoost 11.8 s and 2.2 s (``bench/README.md``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

THREADS_ENV = "MLCHAT_THREADS"
PARALLEL_ABOVE_ROWS = 20_000
"""Fits use more than one thread only above this many training rows."""
BUSY_ABOVE_LOAD = 1.0
"""The machine is busy when its 1-minute load average is above its cores plus this (our
own training counts for about one)."""


def allowed_threads() -> int:
    """Threads this process may use: ``MLCHAT_THREADS`` if set (a whole number >= 1), else
    every core."""
    cores = os.cpu_count() or 1
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw.isdigit() and int(raw) >= 1:
        return min(int(raw), cores)
    return cores


def machine_busy() -> bool:
    """Whether other work holds the machine's cores (False where the load cannot be read)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return False
    return load > (os.cpu_count() or 1) + BUSY_ABOVE_LOAD


def threads_for(n_rows: int) -> int:
    """Threads for one fit on ``n_rows`` rows: one on small data or a busy machine."""
    if n_rows <= PARALLEL_ABOVE_ROWS or machine_busy():
        return 1
    return allowed_threads()


@contextmanager
def capped(n_threads: int) -> Iterator[None]:
    """Within the block, native thread pools (BLAS, OpenMP) use at most ``n_threads``
    (``allowed_threads()`` when it is below 1, as scikit-learn's ``n_jobs=-1``)."""
    limit = int(n_threads) if int(n_threads) >= 1 else allowed_threads()
    with threadpool_limits(limits=limit):
        yield
