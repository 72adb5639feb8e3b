"""The passwords of database URLs, kept in this process only.

A user may write ``postgresql://analyst:s3cret@db/sales`` in a message, or
set ``MLCHAT_SQL_URL``. What is stored, logged, shown to a model or handed
to the sandbox is the masked form, ``postgresql://analyst:***@db/sales``;
:func:`remember` keeps the password in a dict of this process, keyed by that
masked form, and :func:`unmask` puts it back just before the app connects.
After a restart the passwords are gone and the user is asked to write the
URL again (a masked URL nobody remembered fails with that request).
"""

from __future__ import annotations

import logging
import threading

from tools.errors import DataError
from tools.sql_source import MASK, find_database_urls, masked_url, parse_url

log = logging.getLogger(__name__)

_lock = threading.Lock()
_passwords: dict[str, str] = {}


def remember(url: str) -> str:
    """Keep ``url``'s password in this process; return the masked URL to use everywhere else."""
    shown = masked_url(url)
    password = parse_url(url).password
    if password and password != MASK:
        with _lock:
            _passwords[shown] = password
    return shown


def unmask(url: str) -> str:
    """The URL to connect with: a masked URL gets its remembered password back."""
    parsed = parse_url(url)
    if parsed.password != MASK:
        return url
    with _lock:
        password = _passwords.get(url)
    if password is None:
        raise DataError(
            f"I no longer know the password for {url} (the app restarted). "
            "Write the database address with its password again."
        )
    return parsed.set(password=password).render_as_string(hide_password=False)


def mask_urls(text: str) -> str:
    """``text`` with every database URL in it masked (and its password remembered)."""
    for url in find_database_urls(text):
        try:
            shown = remember(url)
        except DataError:
            continue  # not a URL after all: nothing to hide
        if shown != url:
            text = text.replace(url, shown)
    return text


def known_passwords() -> tuple[str, ...]:
    """Every remembered password (for redaction checks)."""
    with _lock:
        return tuple(_passwords.values())
