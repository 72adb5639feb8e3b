"""``mlchat export-notebook THREAD``: a conversation as a notebook that redoes its work.

THREAD is the conversation's id (the last part of its URL in the browser, or the
``--thread`` of ``mlchat chat``). See :mod:`assistant.notebook_export`. Register
the command with :func:`add_export_notebook`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_export_notebook(commands: Any) -> None:
    """Register ``mlchat export-notebook`` on the CLI's subcommand tree."""
    parser = commands.add_parser(
        "export-notebook",
        help="write a conversation as a Jupyter notebook that redoes its work",
        description=(
            "Write THREAD as an .ipynb: each message you wrote, then the code that redoes it "
            "(load, profile, train with the same plan, metrics, figures, predictions, and every "
            "code cell that ran). Run it with mlchat installed."
        ),
    )
    parser.add_argument("thread", metavar="THREAD", help="the conversation's id")
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write it (default <THREAD>.ipynb)"
    )
    parser.set_defaults(handler=_cmd_export_notebook)


def _cmd_export_notebook(args: argparse.Namespace) -> int:
    from assistant.notebook_export import build_notebook, write_notebook
    from assistant.settings import Settings
    from assistant.store import ConversationStore, Database, RunStore
    from tools.errors import UserFacingError

    settings = Settings.from_env()
    if not settings.has_store:
        raise UserFacingError(f"No conversations yet: {settings.data_dir} has no database.")
    db = Database(settings.store_location)
    try:
        notebook = build_notebook(ConversationStore(db), RunStore(db), args.thread)
    finally:
        db.close()
    out = args.out or Path.cwd() / f"{args.thread}.ipynb"
    write_notebook(notebook, out)
    print(f"Wrote {out} ({len(notebook.cells)} cells). Run it with mlchat installed.")
    return 0
