"""Errors of the code sandbox, written for the person using mlchat.

Hierarchy::

    UserFacingError (tools/errors.py)
    └── SandboxError            the code sandbox cannot do what was asked
        ├── SandboxStartError   the kernel / E2B sandbox could not be started
        └── SandboxFileError    a file to upload or download is missing or outside the workspace

Errors raised *by the user's code* are not exceptions here: they come back in
``Execution.error``.
"""

from __future__ import annotations

from tools.errors import UserFacingError


class SandboxError(UserFacingError):
    """The code sandbox cannot do what was asked."""


class SandboxStartError(SandboxError):
    """The sandbox (local kernel or E2B) could not be started."""


class SandboxFileError(SandboxError):
    """A file to move in or out of the sandbox is missing or not allowed."""
