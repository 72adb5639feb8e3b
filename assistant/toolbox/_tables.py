"""Tables loaded in the app process, cached by file content so follow-ups don't re-read them."""

from __future__ import annotations

import threading
from collections import OrderedDict

from assistant.store import DatasetRecord
from tools.io.load import LoadedTable, load_table

_CACHE: OrderedDict[tuple[str, str], LoadedTable] = OrderedDict()
_LOCK = threading.Lock()
_MAX_TABLES = 3


def load_dataset(record: DatasetRecord, *, max_bytes: int) -> LoadedTable:
    """The dataset's table (from the cache when the same file was read recently)."""
    key = (str(record.path), record.sha256)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    table = load_table(record.path, max_bytes=max_bytes)
    with _LOCK:
        _CACHE[key] = table
        while len(_CACHE) > _MAX_TABLES:
            _CACHE.popitem(last=False)
    return table
