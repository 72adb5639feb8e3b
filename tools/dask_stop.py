"""Stopping a distributed boosting fit at its deadline, after the same round on every worker
(:class:`ClusterDeadline`), and the library callbacks that ask it after each round."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from xgboost.callback import TrainingCallback

from tools.deadline import Deadline

log = logging.getLogger(__name__)

_SKEW_S = 2.0
"""From this long before a fit's deadline, every worker reads the agreed stopping round each
round: it covers the clocks of different machines and a round in flight."""


class ClusterDeadline:
    """Stops a distributed fit at its deadline, after the same boosting round on every worker.

    Each worker of the fit runs its own copy, and the workers move round by round in
    lockstep (each round ends in an allreduce): a worker that stopped alone would leave the
    others waiting for it. So the first worker past the deadline writes a stopping round
    two rounds ahead into a Dask ``Variable`` (under a Dask ``Lock``, so only one is
    written); from ``_SKEW_S`` before the deadline every worker reads it after each round,
    and no worker can be a whole round ahead of the writer, so every worker reads it before
    that round and stops after it. Before that window a round costs no scheduler call.
    """

    def __init__(self, at_wall_s: float, name: str) -> None:
        self.at_wall_s = at_wall_s
        """The deadline in ``time.time()`` seconds (workers may be other machines)."""
        self.name = name

    @classmethod
    @contextlib.contextmanager
    def until(cls, deadline: Deadline, client: Any) -> Iterator[ClusterDeadline]:
        """A stop at ``deadline`` for one fit through ``client``'s cluster."""
        from distributed import Variable

        stop = cls(time.time() + deadline.left_s(), f"mlchat-stop-round-{uuid.uuid4().hex}")
        variable = Variable(stop.name, client=client)
        variable.set(-1)
        try:
            yield stop
        finally:
            with contextlib.suppress(Exception):
                variable.delete()

    def stop_after(self, round_index: int) -> bool:
        """Whether the fit stops after round ``round_index`` (0-based): the same on every worker."""
        if time.time() < self.at_wall_s - _SKEW_S:
            return False
        from distributed import Lock, Variable

        variable = Variable(self.name)
        stop_at = int(variable.get())
        if stop_at < 0 and time.time() >= self.at_wall_s:
            with Lock(f"{self.name}-lock"):
                stop_at = int(variable.get())
                if stop_at < 0:
                    stop_at = round_index + 2
                    variable.set(stop_at)
                    log.info("dask_fit_deadline stop_after_round=%d", stop_at + 1)
        return 0 <= stop_at <= round_index


class LightGBMStop:
    """LightGBM's side of :class:`ClusterDeadline` (a callback after each round)."""

    order = 40  # after early stopping (30), as the single-machine deadline

    def __init__(self, stop: ClusterDeadline) -> None:
        self.stop = stop

    def __call__(self, env: Any) -> None:
        from lightgbm.callback import EarlyStopException

        if self.stop.stop_after(env.iteration - env.begin_iteration):
            raise EarlyStopException(env.iteration, env.evaluation_result_list or [])


class XGBoostStop(TrainingCallback):
    """XGBoost's side of :class:`ClusterDeadline` (``after_iteration`` returns True to stop)."""

    def __init__(self, stop: ClusterDeadline) -> None:
        super().__init__()
        self.stop = stop

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return self.stop.stop_after(epoch)


def boosted_rounds(local: Any) -> int:
    """How many boosting rounds the local XGBoost / LightGBM estimator holds."""
    if hasattr(local, "booster_"):
        return int(local.booster_.current_iteration())
    return int(local.get_booster().num_boosted_rounds())


def rounds_note(local: Any) -> str:
    """ "N rounds", or "N of M rounds (stopped ...)" when the deadline cut the fit short."""
    rounds, planned = boosted_rounds(local), local.get_params().get("n_estimators")
    if planned and rounds < planned:
        return f"{rounds} of {planned} rounds (stopped at its share of the budget)"
    return f"{rounds} rounds"
