"""Collecting one run's output: streamed to a callback, kept up to a cap, turned into an Execution."""

from __future__ import annotations

import base64
import logging
import re
from typing import Any

from assistant.sandbox.base import (
    Execution,
    ExecutionError,
    OutputCallback,
    Result,
    StreamName,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT_CHARS = 1_000_000
MAX_TRACEBACK_CHARS = 4_000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


def trim_traceback(text: str, *, max_chars: int = MAX_TRACEBACK_CHARS) -> str:
    """Plain traceback text, keeping its end (where the error is) when it is long."""
    plain = strip_ansi(text).strip("\n")
    if len(plain) <= max_chars:
        return plain
    return "[... earlier frames cut ...]\n" + plain[-max_chars:]


def result_from_bundle(data: dict[str, Any], *, is_main_result: bool) -> Result:
    """Map a Jupyter MIME bundle (display_data / execute_result) to a Result."""
    png = data.get("image/png")
    plotly = data.get(PLOTLY_MIME)
    return Result(
        text=data.get("text/plain"),
        png=base64.b64decode(png) if isinstance(png, str) else None,
        html=data.get("text/html"),
        plotly=plotly if isinstance(plotly, dict) else None,
        is_main_result=is_main_result,
    )


class OutputCapture:
    """Receives stdout/stderr chunks in arrival order and rich results of one run.

    Every chunk goes to ``on_output`` until ``max_chars`` characters (both
    streams together) were passed on; after that output is counted, not kept,
    and a note saying how much was cut ends the captured text.
    """

    def __init__(
        self, on_output: OutputCallback | None, *, max_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    ) -> None:
        self._on_output = on_output
        self._max_chars = max_chars
        self._kept = 0
        self._dropped: dict[StreamName, int] = {"stdout": 0, "stderr": 0}
        self._parts: dict[StreamName, list[str]] = {"stdout": [], "stderr": []}
        self.results: list[Result] = []
        self.error: ExecutionError | None = None

    @property
    def is_empty(self) -> bool:
        """Nothing arrived yet: no output, no result, no error."""
        return (
            self._kept == 0
            and not any(self._dropped.values())
            and not self.results
            and self.error is None
        )

    def stream(self, name: StreamName, text: str) -> None:
        room = self._max_chars - self._kept
        if room <= 0:
            self._dropped[name] += len(text)
            return
        if len(text) > room:
            self._dropped[name] += len(text) - room
            text = text[:room]
        self._kept += len(text)
        self._parts[name].append(text)
        if self._on_output is not None:
            try:
                self._on_output(name, text)
            except Exception:
                log.exception("sandbox_output_callback_failed stream=%s", name)

    def result(self, result: Result) -> None:
        self.results.append(result)

    def fail(self, name: str, value: str, traceback: str = "") -> None:
        """Record the error of this run; the first one wins (as in Jupyter)."""
        if self.error is None:
            self.error = ExecutionError(name=name, value=value, traceback=traceback)

    def execution(self) -> Execution:
        texts: dict[StreamName, str] = {}
        for name in ("stdout", "stderr"):
            text = "".join(self._parts[name])
            if self._dropped[name]:
                note = (
                    f"\n[... {self._dropped[name]:,} more characters of {name} were cut; "
                    f"write large output to a file instead ...]\n"
                )
                text += note
                if self._on_output is not None:
                    self._on_output(name, note)
            texts[name] = text
        return Execution(
            stdout=texts["stdout"],
            stderr=texts["stderr"],
            results=tuple(self.results),
            error=self.error,
        )
