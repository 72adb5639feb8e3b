"""Code executors behind one interface: a confined local Jupyter kernel, or E2B.

Use :class:`SandboxPool` to get the executor of a conversation; the contract
is in :mod:`assistant.sandbox.base`. :class:`E2BExecutor` is imported on first use
(its SDK takes seconds to import and most processes never use it).
"""

from typing import TYPE_CHECKING, Any

from assistant.sandbox.base import (
    Execution,
    ExecutionError,
    Executor,
    OutputCallback,
    Result,
    StreamName,
)
from assistant.sandbox.confinement import ConfinementReport, Limits, detect_confinement
from assistant.sandbox.errors import SandboxError, SandboxFileError, SandboxStartError
from assistant.sandbox.local import LocalExecutor
from assistant.sandbox.pool import PooledExecutor, SandboxPool

if TYPE_CHECKING:
    from assistant.sandbox.e2b import E2BExecutor

__all__ = [
    "ConfinementReport",
    "E2BExecutor",
    "Execution",
    "ExecutionError",
    "Executor",
    "Limits",
    "LocalExecutor",
    "OutputCallback",
    "PooledExecutor",
    "Result",
    "SandboxError",
    "SandboxFileError",
    "SandboxPool",
    "SandboxStartError",
    "StreamName",
    "detect_confinement",
]


def __getattr__(name: str) -> Any:
    if name == "E2BExecutor":
        from assistant.sandbox.e2b import E2BExecutor

        return E2BExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
