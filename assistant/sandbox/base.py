"""The code-execution contract shared by the local kernel and E2B executors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

StreamName = Literal["stdout", "stderr"]
OutputCallback: TypeAlias = Callable[[StreamName, str], None]


@dataclass(frozen=True, slots=True)
class Result:
    """One rich output: display data or the value of the last expression.

    Only the formats the kernel produced are set. ``png`` is raw bytes;
    ``plotly`` is the figure as a JSON-compatible dict.
    """

    text: str | None = None
    png: bytes | None = None
    html: str | None = None
    plotly: dict[str, Any] | None = None
    is_main_result: bool = False


@dataclass(frozen=True, slots=True)
class ExecutionError:
    """An exception raised by the user's code (or a crash / timeout of the kernel)."""

    name: str
    value: str
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class Execution:
    """Everything one ``run`` produced."""

    stdout: str = ""
    stderr: str = ""
    results: tuple[Result, ...] = field(default_factory=tuple)
    error: ExecutionError | None = None


def clamp_timeout(asked_s: float | None, ceiling_s: float) -> float:
    """The wall-clock limit of one run: what the caller asked for, never above the ceiling."""
    if asked_s is None or asked_s <= 0:
        return ceiling_s
    return min(float(asked_s), ceiling_s)


@runtime_checkable
class Executor(Protocol):
    """Runs Python code with state kept across calls, in one conversation's sandbox."""

    async def run(
        self, code: str, *, timeout_s: float | None = None, on_output: OutputCallback | None = None
    ) -> Execution:
        """Run ``code``; stream stdout/stderr chunks to ``on_output`` as they arrive."""
        ...

    async def upload(self, path: Path) -> str:
        """Copy a workspace file into the sandbox; return its name there."""
        ...

    async def download(self, name: str) -> Path:
        """Copy a file produced in the sandbox back into the workspace; return its path."""
        ...

    async def interrupt(self) -> None:
        """Interrupt the code that is running, if any."""
        ...

    async def restart(self) -> None:
        """Restart the interpreter (state is lost; the dataset is reloaded)."""
        ...

    async def close(self) -> None:
        """Stop the sandbox and free its resources."""
        ...
