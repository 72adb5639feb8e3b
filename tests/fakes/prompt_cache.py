"""A prompt cache that reports reads and writes the way each provider does, for the fake servers.

Sizes are counted as four characters a token over a canonical serialisation
of the request in prompt order (tools, system, messages), with
``cache_control`` markers removed, so two requests share a cached prefix
exactly when their prompts start the same way.

- OpenAI (automatic caching): the longest prefix shared with an earlier
  request is read from the cache, in steps of 128 tokens from 1,024 on.
- Gemini (implicit caching on 2.5 models): the longest shared prefix, from 1,024 tokens on.
- Anthropic (explicit breakpoints): only prefixes ending at a ``cache_control``
  breakpoint are cached. The longest breakpoint prefix written by an earlier
  request is read; the rest up to the last breakpoint is written (from
  1,024 tokens on); what follows it is plain input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MIN_TOKENS = 1024
OPENAI_STEP = 128


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """What a request's usage reports: the whole prompt, the part read, the part written."""

    input_tokens: int
    read_tokens: int
    write_tokens: int = 0


def _tokens(characters: int) -> int:
    return characters // 4


def _common(a: str, b: str) -> int:
    size = min(len(a), len(b))
    low, high = 0, size
    while low < high:  # binary search on the shared prefix length
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _pieces(protocol: str, body: dict[str, Any]) -> list[tuple[str, bool]]:
    """The request as (text, ends at a breakpoint) pieces, in prompt order."""
    if protocol == "openai" and "input" in body:  # the Responses API
        items = [("tools", body.get("tools", [])), ("instructions", body.get("instructions"))]
        items += [("i", item) for item in body.get("input", [])]
    elif protocol == "openai":
        items = [("tools", body.get("tools", []))] + [("m", m) for m in body.get("messages", [])]
    elif protocol == "gemini":
        items = [
            ("system", body.get("systemInstruction")),
            ("tools", body.get("tools", [])),
        ] + [("c", c) for c in body.get("contents", [])]
    else:
        items = [("t", t) for t in body.get("tools", [])]
        system = body.get("system")
        items += [("s", s) for s in system] if isinstance(system, list) else [("s", system)]
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                items += [(message["role"], block) for block in content]
            else:
                items.append((message["role"], content))
    pieces = []
    for tag, value in items:
        marked = isinstance(value, dict) and "cache_control" in value
        text = json.dumps([tag, _strip(value)], sort_keys=True, separators=(",", ":"))
        pieces.append((text, marked))
    return pieces


@dataclass
class PromptCache:
    """One provider's cache, shared by every request to one fake server."""

    protocol: str
    _seen: list[str] = field(default_factory=list)
    _written: set[str] = field(default_factory=set)

    def usage(self, body: dict[str, Any]) -> CacheUsage:
        """The usage to report for ``body``, and remember it for the next requests."""
        pieces = _pieces(self.protocol, body)
        prompt = "".join(text for text, _ in pieces)
        total = _tokens(len(prompt))
        if self.protocol == "anthropic":
            return self._breakpoints(pieces, total)
        shared = max((_common(prompt, earlier) for earlier in self._seen), default=0)
        self._seen.append(prompt)
        read = _tokens(shared)
        if read < MIN_TOKENS:
            return CacheUsage(total, 0)
        if self.protocol == "openai":
            read = read // OPENAI_STEP * OPENAI_STEP
        return CacheUsage(total, read)

    def _breakpoints(self, pieces: list[tuple[str, bool]], total: int) -> CacheUsage:
        prefixes: list[str] = []
        text = ""
        for piece, marked in pieces:
            text += piece
            if marked:
                prefixes.append(text)
        read = max((len(p) for p in prefixes if p in self._written), default=0)
        last = len(prefixes[-1]) if prefixes else 0
        write = 0
        if _tokens(last) >= MIN_TOKENS and last > read:
            write = _tokens(last) - _tokens(read)
        self._written.update(p for p in prefixes if _tokens(len(p)) >= MIN_TOKENS)
        return CacheUsage(total, _tokens(read), write)
