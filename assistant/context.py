"""What every tool receives: the conversation it works in and the services it may use."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ToolError
from assistant.events import Event, ToolProgress, UserOutput
from assistant.providers.base import ChatSettings, Model, ToolCall
from assistant.settings import Settings
from assistant.store import ConversationStore, DatasetRecord, RunStore
from assistant.worker import WorkerHandle, set_worker_threads
from assistant.workspace import Workspace
from tools.io import safe_files


@dataclass
class SessionServices:
    """Long-lived services shared by every tool call of a process."""

    settings: Settings
    conversations: ConversationStore
    runs: RunStore
    sandboxes: Any | None = None
    """A ``SandboxPool`` (or ``None`` where code execution is not offered)."""
    workers: dict[str, WorkerHandle] = field(default_factory=dict)
    """Running worker per thread, so a stop request can reach it."""
    language_model: Callable[[str], tuple[Model, ChatSettings] | None] | None = None
    """``thread_id ->`` the conversation's language model and settings, for a tool's own
    schema-constrained call; ``None`` (or a ``None`` answer) when it runs offline."""
    _slots: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def training_slot(self, report: Callable[[str], None]) -> AsyncIterator[None]:
        """Hold one of the ``max_training_jobs`` worker slots; say so while waiting for one.

        Each worker uses a core; more at once would starve the chat itself (measured with
        bench/load.py: 20 trainings at once stalled plain replies for 16 s).
        """
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_training_jobs)
            # jobs x threads never exceed the cores
            set_worker_threads((os.cpu_count() or 1) // self.settings.max_training_jobs)
        if self._slots.locked():
            report(
                "Waiting for a free training slot: other conversations are training "
                f"(at most {self.settings.max_training_jobs} at once, MLCHAT_MAX_TRAINING_JOBS)."
            )
        async with self._slots:
            yield


@dataclass
class ToolContext:
    """The context passed as the first argument of every tool."""

    thread_id: str
    call: ToolCall
    services: SessionServices
    emit: Callable[[Event], None]

    @property
    def settings(self) -> Settings:
        """The process settings."""
        return self.services.settings

    @property
    def files(self) -> Workspace:
        """This conversation's workspace: the one door for its files (created on first use)."""
        return Workspace.at(self.settings.workspace_for(self.thread_id))

    @property
    def workspace(self) -> Path:
        """This conversation's folder (uploads, runs, figures); created on first use."""
        return self.files.root

    def progress(self, message: str, *, fraction: float | None = None, **data: Any) -> None:
        """Report progress of this call to the user."""
        self.emit(ToolProgress(self.call.id, self.call.name, message, fraction, data))

    def show(self, output: UserOutput) -> None:
        """Show a table / figure / file now, while the tool is still running."""
        if hasattr(output, "call_id"):
            output = type(output)(**{**_fields(output), "call_id": self.call.id})
        self.emit(output)

    def dataset(self, dataset_id: str | None = None) -> DatasetRecord:
        """The dataset with ``dataset_id``, or the newest one when omitted."""
        datasets = self.services.conversations.datasets(self.thread_id)
        if not datasets:
            raise ToolError(
                "No file is attached to this conversation yet. Ask the user to attach a CSV, "
                "TSV, Parquet, Excel or JSON file."
            )
        if dataset_id is None:
            return self._checked(datasets[-1])
        for record in datasets:
            if dataset_id in (record.id, record.name):
                return self._checked(record)
        known = ", ".join(f"{d.id} ({d.name})" for d in datasets)
        raise ToolError(f"There is no dataset {dataset_id!r}. Attached datasets: {known}.")

    def _checked(self, record: DatasetRecord) -> DatasetRecord:
        """``record`` if its file is still the regular file the app stored (no link planted)."""
        if not safe_files.is_regular_beneath(self.files.uploads, record.path):
            raise ToolError(
                f"The attached file {record.name!r} is no longer a regular file in this "
                "conversation's uploads, so I will not read it. Ask the user to attach it again."
            )
        return record

    def training_dataset(self, dataset_id: str | None = None) -> DatasetRecord:
        """The dataset to train on: the named one, else the one the last run used, else the newest."""
        if dataset_id is not None:
            return self.dataset(dataset_id)
        last = self.services.runs.latest(self.thread_id)
        if last is not None and last.dataset_id:
            return self.dataset(last.dataset_id)
        return self.dataset(None)


def match_column(columns: list[str], wanted: str) -> str | None:
    """The column ``wanted`` names: exact, case/space-insensitive, then a close typo match."""
    if wanted in columns:
        return wanted

    def key(name: str) -> str:
        return "".join(ch for ch in name.lower() if ch.isalnum())

    by_key = {key(c): c for c in columns}
    if key(wanted) in by_key:
        return by_key[key(wanted)]
    close = difflib.get_close_matches(key(wanted), list(by_key), n=2, cutoff=0.8)
    if len(close) == 1:
        return by_key[close[0]]
    for word in reversed(wanted.split()):
        if key(word) in by_key:
            return by_key[key(word)]
    return None


def _fields(output: Any) -> dict[str, Any]:
    return {name: getattr(output, name) for name in output.__dataclass_fields__ if name != "kind"}
