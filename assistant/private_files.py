"""Files only the app's user can read: umask 077 at the entry points, and the data folder tightened.

The data folder holds the databases (chat history, usage, login secrets,
Chainlit's JWT-signed threads) and every conversation's files, so nothing in
it is for other local users. Entry points (``mlchat``, ``chat_app.py``) call
:func:`restrict_new_files` first, so every file and folder the process makes
is 0600 / 0700; :func:`restrict_data_dir` fixes what an older version left
0644 / 0755. SQLite creates a database's ``-wal`` and ``-shm`` files with the
database file's own mode, so a 0600 database keeps them 0600 too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def restrict_new_files() -> None:
    """Make files this process creates private to its user (umask 077)."""
    os.umask(0o077)


def restrict_data_dir(data_dir: Path) -> None:
    """Make ``data_dir`` and its direct entries private: folders 0700, files 0600.

    Links are left alone (never followed); workspaces keep their own modes
    below their top folder, which :class:`~assistant.workspace.Workspace` sets.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed = _restrict(data_dir)
    with os.scandir(data_dir) as entries:
        for entry in entries:
            changed += _restrict(Path(entry.path))
    if changed:
        log.info("data_dir_restricted entries=%d", changed)


def _restrict(path: Path) -> int:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return 0
    if stat.S_ISDIR(info.st_mode):
        wanted = 0o700
    elif stat.S_ISREG(info.st_mode):
        wanted = 0o600
    else:
        return 0
    if stat.S_IMODE(info.st_mode) == wanted:
        return 0
    os.chmod(path, wanted)
    return 1
