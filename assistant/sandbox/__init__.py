"""Code executors behind one interface: a confined local Jupyter kernel, or E2B.

Use :class:`SandboxPool` to get the executor of a conversation; the contract
is in :mod:`assistant.sandbox.base`.
"""

from assistant.sandbox.base import (
    Execution,
    ExecutionError,
    Executor,
    OutputCallback,
    Result,
    StreamName,
)
from assistant.sandbox.confinement import ConfinementReport, Limits, detect_confinement
from assistant.sandbox.e2b import E2BExecutor
from assistant.sandbox.errors import SandboxError, SandboxFileError, SandboxStartError
from assistant.sandbox.local import LocalExecutor
from assistant.sandbox.pool import PooledExecutor, SandboxPool

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
