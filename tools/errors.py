"""Errors raised by the ML engine.

Hierarchy (the assistant layer adds its own subclasses in ``assistant/errors.py``)::

    MlchatError                 base of every error we raise on purpose
    └── UserFacingError         shown verbatim to the person; says what happened and what to do next
        ├── DataError           a file or table cannot be used (empty, binary, too large, ...)
        ├── TargetError         the target column is missing or unusable
        └── PlanError           a plan field is invalid
            └── FeatureError    a derived-feature expression is not allowed or does not fit the table
"""

from __future__ import annotations


class MlchatError(Exception):
    """Base class of every error mlchat raises on purpose."""


class UserFacingError(MlchatError):
    """An error whose message is written for the person using mlchat.

    The message names the thing that went wrong in the user's terms and says
    what to do next. It never holds a traceback, a key, or a path outside the
    workspace.
    """


class DataError(UserFacingError):
    """A file or table cannot be loaded or used."""


class TargetError(UserFacingError):
    """The target column is missing or cannot be learned."""


class PlanError(UserFacingError):
    """A plan (or a change to it) is invalid."""


class FeatureError(PlanError):
    """A derived-feature expression is outside the grammar or does not fit the table."""
