"""Which conversation the current LLM call is for, and where its notices go.

The router's :class:`~assistant.providers.router.Limiter` hook is not told the
conversation, so the agent loop sets it for the duration of a turn::

    with spend_scope(thread_id, emit=emit):
        ...  # every router call made in this task is charged to thread_id

A ``ContextVar`` is per asyncio task (a task copies the context it was
created in), so concurrent conversations never see each other's scope. Set it
inside the task that iterates the router's stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from assistant.events import Notice

NoticeSink = Callable[[Notice], None]


@dataclass(frozen=True, slots=True)
class SpendScope:
    """The conversation being served and where to send its notices (``None``: queue them)."""

    thread_id: str | None
    emit: NoticeSink | None = None


_SCOPE: ContextVar[SpendScope | None] = ContextVar("mlchat_spend_scope", default=None)


@contextmanager
def spend_scope(thread_id: str | None, *, emit: NoticeSink | None = None) -> Iterator[SpendScope]:
    """Charge LLM calls made in this block (this task) to ``thread_id``; send notices to ``emit``."""
    scope = SpendScope(thread_id, emit)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> SpendScope | None:
    """The scope set by the innermost :func:`spend_scope` of this task, if any."""
    return _SCOPE.get()
