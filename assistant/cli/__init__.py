"""The ``mlchat`` command: :mod:`assistant.cli.commands` builds the subcommand tree and
runs it (train, predict, profile); one module per other front end: ``chat``, ``usage``,
``models``, ``serve``, ``serve_model``, ``notebook``.

Importing one of them does not import the others: :func:`main` loads the tree when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mlchat`` console script; returns the exit status."""
    from assistant.cli.commands import main as run

    return run(argv)
