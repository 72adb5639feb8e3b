"""The run_code tool: Python in the conversation's sandbox, never in the app process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path

from assistant.context import ToolContext
from assistant.errors import ToolError
from assistant.events import Figure, File, Notice, Table
from assistant.sandbox.base import ExecutionError
from assistant.toolbox._format import for_model, truncate
from assistant.toolkit import ToolResult, changes_state
from assistant.untrusted import CODE_OUTPUT_NOTE
from assistant.workspace import COPY_OUT_SUFFIXES, safe_file_name
from tools.errors import UserFacingError

_MAX_OUTPUT_CHARS = 4_000
_MAX_FIGURES = 6
_MAX_COPY_OUT_FILES = 5
_MAX_COPY_OUT_BYTES = 100 << 20


@changes_state
async def run_code(ctx: ToolContext, code: str, timeout_s: int | None = None) -> ToolResult:
    """Run Python code in a sandboxed Jupyter kernel for anything the other tools don't cover
    (custom analysis, pandas queries, charts). The dataset being modelled (else the newest
    attached file) is already loaded as a pandas DataFrame named `df`; state persists between calls; there is no network access.
    Show charts with matplotlib or plotly; print what you want to read back.

    Args:
        code: Python source to execute.
        timeout_s: Seconds before the run is interrupted; at most the server's limit
            (MLCHAT_SANDBOX_TIMEOUT_S), which is also the default.
    """
    pool = ctx.services.sandboxes
    if pool is None:
        raise ToolError("Code execution is not available in this session.")
    datasets = ctx.services.conversations.datasets(ctx.thread_id)
    dataset_path = ctx.training_dataset().path if datasets else None
    executor = await pool.get(ctx.thread_id, dataset_path)
    started = time.time()
    chunks: list[str] = []

    def on_output(stream: str, text: str) -> None:
        chunks.append(text)
        tail = "".join(chunks)[-300:]
        ctx.progress(tail.rsplit("\n", 2)[-1] or "running", stream=stream)

    ceiling_s = ctx.settings.sandbox_timeout_s
    asked_s = ceiling_s if timeout_s is None else min(float(timeout_s), ceiling_s)
    execution = await executor.run(code, timeout_s=asked_s, on_output=on_output)
    outputs: list[Figure | Table | Notice | File] = []
    texts: list[str] = []
    for index, result in enumerate(execution.results):
        if result.plotly is not None and len(outputs) < _MAX_FIGURES:
            outputs.append(Figure(f"Chart {index + 1}", plotly_json=json.dumps(result.plotly)))
        elif result.png is not None and len(outputs) < _MAX_FIGURES:
            png_path = ctx.files.write_bytes(
                Path("figures") / safe_file_name(f"{ctx.call.id}-{index + 1}.png"),
                result.png if isinstance(result.png, bytes) else base64.b64decode(result.png),
            )
            outputs.append(Figure(f"Figure {index + 1}", png_path=png_path))
        elif result.text:
            texts.append(result.text)
    stdout = truncate(execution.stdout, _MAX_OUTPUT_CHARS)
    payload: dict[str, object] = {
        "summary": _summary(execution.error, ctx.settings.sandbox_memory_mb),
        "note": CODE_OUTPUT_NOTE,
        "stdout": stdout,
        "stderr": truncate(execution.stderr, 1_000),
        "results": [truncate(t, 1_000) for t in texts[-3:]],
        "figures": len(outputs),
    }
    if execution.error is not None:
        payload["error"] = {
            "name": execution.error.name,
            "value": truncate(execution.error.value, 500),
            "traceback": truncate(execution.error.traceback, 1_500),
        }
        outputs.append(
            Notice(
                f"{execution.error.name}: {truncate(execution.error.value, 300)}", level="warning"
            )
        )
    files, refused = await asyncio.to_thread(_copy_out_new_files, ctx, started)
    outputs.extend(files)
    outputs.extend(Notice(text, level="warning") for text in refused)
    if files:
        payload["files"] = [f.path.name for f in files]
    output_text = "\n".join(p for p in (stdout, *texts[-1:]) if p)
    payload["output"] = truncate(output_text, _MAX_OUTPUT_CHARS)
    return ToolResult(for_model=for_model(payload), for_user=tuple(outputs), facts=payload)


def _copy_out_new_files(ctx: ToolContext, since: float) -> tuple[list[File], list[str]]:
    """Copy the files the run wrote at the top of scratch out to the user; say what was refused.

    Only regular files (no links), of a type in COPY_OUT_SUFFIXES and at most
    ``_MAX_COPY_OUT_BYTES``, are copied; the app never serves scratch itself.
    """
    scratch = ctx.files.scratch
    if not scratch.is_dir():
        return [], []
    fresh = []
    with os.scandir(scratch) as entries:
        for entry in entries:
            if entry.name.startswith(".") or entry.is_dir(follow_symlinks=False):
                continue
            info = entry.stat(follow_symlinks=False)
            if info.st_mtime >= since - 1 and Path(entry.name).suffix.lower() in COPY_OUT_SUFFIXES:
                fresh.append((info.st_mtime, entry.name))
    files: list[File] = []
    refused: list[str] = []
    for _, name in sorted(fresh)[-_MAX_COPY_OUT_FILES:]:
        try:
            copied = ctx.files.copy_out(name, max_bytes=_MAX_COPY_OUT_BYTES)
        except UserFacingError as exc:
            refused.append(f"{name} was not copied out of the sandbox: {exc}")
            continue
        mime = COPY_OUT_SUFFIXES[copied.suffix.lower()]
        files.append(File(copied, f"{copied.name} (written by the code)", mime))
    return files, refused


def _summary(error: ExecutionError | None, memory_mb: int) -> str:
    """One sentence about how the run ended, naming the limit it hit when there is one."""
    if error is None:
        return "The code ran."
    text = f"The code raised {error.name}: {truncate(error.value, 200)}"
    if error.name == "MemoryError":
        text += (
            f" The sandbox has a memory limit of {memory_mb:,} MB (MLCHAT_SANDBOX_MEMORY_MB); "
            "work on a sample or fewer columns, or raise the limit."
        )
    return text
