"""Token counting for budgeting, when a provider does not report usage.

tiktoken fetches its BPE tables (``cl100k_base``, ``o200k_base``) from the
internet on first use and caches them in ``$TIKTOKEN_CACHE_DIR`` (default
``$TMPDIR/data-gym-cache``). mlchat never downloads at run time, so a table is
used only when its cache file is already on disk (copy the ``.tiktoken`` file
there under tiktoken's cache name to enable it). Otherwise the count is the
documented estimate of one token per four characters, rounded up, which is
within about 25 % for English prose and JSON on the OpenAI tokenisers.

Either way the result is an estimate for non-OpenAI models, and every count
made here is reported with ``is_estimate=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from assistant.providers.base import Message, ToolSpec

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
"""The fallback estimate: one token per this many characters."""

_PER_MESSAGE_OVERHEAD = 4  # role and separators, as in OpenAI's cookbook count
_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


def _tiktoken_cache_dir() -> Path | None:
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if name in os.environ:
            return Path(os.environ[name]) if os.environ[name] else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _encoding_name(model: str) -> str:
    """GPT-4 and GPT-3.5 use ``cl100k_base``; newer OpenAI models (and our default) ``o200k_base``."""
    is_older_gpt = model.startswith(("gpt-4", "gpt-3.5")) and not model.startswith(
        ("gpt-4o", "gpt-4.1")
    )
    return "cl100k_base" if is_older_gpt else "o200k_base"


@lru_cache(maxsize=4)
def _offline_encoder(encoding_name: str) -> Callable[[str], int] | None:
    """tiktoken's encoder when its table is cached locally, else ``None`` (never downloads)."""
    cache_dir = _tiktoken_cache_dir()
    url = _ENCODING_URLS[encoding_name]
    if cache_dir is None or not (cache_dir / hashlib.sha1(url.encode()).hexdigest()).is_file():
        log.debug(
            "tiktoken_table_missing encoding=%s fallback=chars/%d", encoding_name, CHARS_PER_TOKEN
        )
        return None
    import tiktoken

    try:
        encoding = tiktoken.get_encoding(encoding_name)
    except Exception as exc:  # a corrupt cache file would make tiktoken try the network
        log.warning("tiktoken_load_failed encoding=%s error=%s", encoding_name, type(exc).__name__)
        return None
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def count_text_tokens(text: str, *, model: str = "") -> int:
    """Tokens in ``text``: tiktoken when its table is on disk, else ``ceil(len / 4)``."""
    if not text:
        return 0
    encoder = _offline_encoder(_encoding_name(model))
    if encoder is not None:
        return encoder(text)
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def count_prompt_tokens(
    messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, model: str = ""
) -> int:
    """Estimated input tokens of a request: every message, tool call and tool spec."""
    total = 0
    for message in messages:
        total += _PER_MESSAGE_OVERHEAD + count_text_tokens(message.content, model=model)
        for call in message.tool_calls:
            total += count_text_tokens(call.name + call.arguments, model=model)
    for tool in tools:
        spec = json.dumps(
            {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
            separators=(",", ":"),
        )
        total += count_text_tokens(spec, model=model)
    return total
