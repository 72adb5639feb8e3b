"""Take the work home: the conversation as a notebook that redoes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nbformat

from assistant.context import ToolContext
from assistant.events import File
from assistant.notebook_export import build_notebook
from assistant.toolbox._format import for_model
from assistant.toolkit import ToolResult


async def export_notebook(ctx: ToolContext) -> ToolResult:
    """Write this conversation as a Jupyter notebook (.ipynb) that redoes its work top to
    bottom: load and profile the data, train with the same plan, metrics, figures, model files,
    explanations, predictions, and every code cell that ran, each under what the user asked.
    Call it when the user asks for a notebook or an .ipynb.
    """

    def write() -> tuple[Path, int]:
        notebook = build_notebook(ctx.services.conversations, ctx.services.runs, ctx.thread_id)
        nbformat.validate(notebook)
        path = ctx.files.folder("outputs") / "conversation.ipynb"
        written = ctx.files.write_bytes(path, nbformat.writes(notebook).encode("utf-8"))
        return written, len(notebook.cells)

    path, cells = await asyncio.to_thread(write)
    summary = (
        f"Wrote {path.name} ({cells} cells): each message you wrote, then the code that redoes "
        "it with mlchat's engine. Open it in Jupyter with mlchat installed and run all cells."
    )
    payload = {"summary": summary, "file": path.name, "cells": cells}
    return ToolResult(
        for_model=for_model(payload),
        for_user=(File(path, f"Notebook ({path.name})", "application/x-ipynb+json"),),
        facts=payload,
    )
