"""One wall-clock deadline for a whole run, and the fits that stop at it.

A :class:`Deadline` is a point on a monotonic clock. The caller that owns the
budget makes one (``mlchat train`` from process start, the chat's worker from
the tool call) and hands it down; phases take earlier deadlines from it
(:meth:`Deadline.sooner`, :meth:`Deadline.share`) so every one of them uses
the same clock, which tests replace with a fake one.

:func:`fitting_until` makes a deadline visible to the estimators a fit builds,
however deeply scikit-learn wraps them (a ``Pipeline`` inside a
``TransformedTargetRegressor``, an ensemble of such models):
:func:`active_deadline` returns it, and the stoppable estimators of
:mod:`tools.models.stoppable` check it between boosting rounds, epochs or batches of
trees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

Clock = Callable[[], float]

ESTIMATE_SAFETY = 1.25
"""Every phase plans with its time estimates multiplied by this (fits vary run to run)."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """A moment on ``clock`` (monotonic seconds) by which work must be finished."""

    at_s: float
    """The moment, in ``clock`` seconds."""
    clock: Clock = field(default=time.monotonic, repr=False, compare=False)

    @classmethod
    def after(cls, budget_s: float, *, clock: Clock = time.monotonic) -> Deadline:
        """The deadline ``budget_s`` seconds from now."""
        return cls(clock() + float(budget_s), clock)

    @classmethod
    def from_wall_start(
        cls, started_at_s: float, budget_s: float, *, clock: Clock = time.monotonic
    ) -> Deadline:
        """The deadline ``budget_s`` after ``started_at_s`` (``time.time()`` seconds), e.g. a
        process start or the moment a tool call arrived in another process."""
        already = max(time.time() - started_at_s, 0.0)
        return cls(clock() - already + float(budget_s), clock)

    def left_s(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self.at_s - self.clock()

    def passed(self) -> bool:
        """True once the deadline has passed."""
        return self.clock() >= self.at_s

    def sooner(self, seconds: float) -> Deadline:
        """The deadline ``seconds`` earlier (held back for later work)."""
        return Deadline(self.at_s - max(seconds, 0.0), self.clock)

    def share(self, fraction: float) -> Deadline:
        """The deadline after ``fraction`` of the time left from now."""
        now = self.clock()
        return Deadline(now + max(self.at_s - now, 0.0) * fraction, self.clock)

    def earlier(self, other: Deadline | None) -> Deadline:
        """Whichever of the two comes first (``self`` when ``other`` is None)."""
        if other is None or self.at_s <= other.at_s:
            return self
        return Deadline(other.at_s, self.clock)


_ACTIVE: ContextVar[Deadline | None] = ContextVar("mlchat_fit_deadline", default=None)


@contextmanager
def fitting_until(deadline: Deadline | None) -> Iterator[None]:
    """Within the block, :func:`active_deadline` is ``deadline`` (the earlier one when nested)."""
    outer = _ACTIVE.get()
    chosen = deadline.earlier(outer) if deadline is not None else outer
    token = _ACTIVE.set(chosen)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_deadline() -> Deadline | None:
    """The deadline of the fit running in this context, if any."""
    return _ACTIVE.get()
