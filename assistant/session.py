"""The assistant as one object a front end holds: settings, store, router, sandbox, tools, loop.

Chainlit, the terminal chat and tests all build an :class:`Assistant` from
:class:`~assistant.settings.Settings` and call :meth:`Assistant.attach_file`,
:meth:`Assistant.run_turn` and :meth:`Assistant.stop`.
"""

from __future__ import annotations

import logging
import re
import shutil
import unicodedata
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from assistant.agent import Agent, ModelStream, TurnLimits
from assistant.context import SessionServices, ToolContext
from assistant.events import Event
from assistant.offline import OfflineAssistant
from assistant.prompts import render_prompt
from assistant.providers import ChatSettings, RouterNotice, build_router
from assistant.providers.base import ToolCall
from assistant.sandbox import SandboxPool
from assistant.settings import Settings
from assistant.spend import OfflineAtCap, SpendGuard
from assistant.store import ConversationStore, Database, DatasetRecord, RunStore
from assistant.toolbox import all_tools
from tools.data import file_sha256
from tools.errors import DataError

log = logging.getLogger(__name__)

_SUFFIXES = {
    ".csv",
    ".tsv",
    ".txt",
    ".parquet",
    ".pq",
    ".xlsx",
    ".xlsm",
    ".json",
    ".jsonl",
    ".ndjson",
}


class Assistant:
    """Everything a conversation needs, built once per process.

    Args:
        settings: The configuration.
        provider: Use this model instead of the router built from ``settings`` (tests).
        sandboxes: Use this sandbox pool instead of one built from ``settings``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        provider: ModelStream | None = None,
        sandboxes: SandboxPool | None = None,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.database_path)
        self.conversations = ConversationStore(self.db)
        self.runs = RunStore(self.db)
        self.notices: tuple[RouterNotice, ...] = ()
        self._router = None
        self.spend = SpendGuard(settings.spend, db=self.db)
        if provider is None:
            offline = OfflineAssistant()
            setup = build_router(settings, db=self.db, offline=offline, limiter=self.spend)
            self._router = setup.router
            provider = OfflineAtCap(setup.router, offline=offline, guard=self.spend)
            self.notices = setup.notices
            self.provider_name = setup.router.primary.provider.name
            self.model_name = setup.router.primary.model
        else:
            self.provider_name = provider.name
            self.model_name = settings.model or "scripted"
        self.sandboxes = sandboxes if sandboxes is not None else SandboxPool(settings)
        self.services = SessionServices(
            settings=settings,
            conversations=self.conversations,
            runs=self.runs,
            sandboxes=self.sandboxes,
        )
        self.agent = Agent(
            provider=provider,
            tools=all_tools(),
            conversations=self.conversations,
            make_context=self._make_context,
            chat_settings=ChatSettings(model=self.model_name),
            system_prompt=self._system_prompt,
            spend=self.spend,
            limits=TurnLimits(
                max_tool_calls=settings.max_tool_calls, deadline_s=settings.turn_deadline_s
            ),
        )

    @property
    def is_offline(self) -> bool:
        """True when the rule-based offline assistant answers."""
        return self.provider_name == "offline"

    def attach_file(
        self, thread_id: str, source: Path, *, name: str | None = None
    ) -> DatasetRecord:
        """Copy an uploaded file into the thread's upload folder and record it as a dataset.

        The stored name keeps only a safe base name (no folders, ``..``, NUL or control
        characters); the size limit is checked before anything is copied.
        """
        display = safe_file_name(name or source.name)
        if Path(display).suffix.lower() not in _SUFFIXES:
            raise DataError(
                f"“{display}” is not a table file I can read. Attach a CSV, TSV, Parquet, Excel "
                "(.xlsx) or JSON file."
            )
        limit = self.settings.max_upload_mb << 20
        size = source.stat().st_size
        if size > limit:
            raise DataError(
                f"“{display}” is {size / 2**20:,.0f} MB, over the {self.settings.max_upload_mb:,} MB "
                "limit (MLCHAT_MAX_UPLOAD_MB)."
            )
        uploads = (self.settings.workspace_for(thread_id) / "uploads").resolve()
        uploads.mkdir(parents=True, exist_ok=True)
        target = uploads / display
        if target.is_symlink() or (target.exists() and file_sha256(target) != file_sha256(source)):
            target = _free_name(uploads, display)
        if target.resolve().parent != uploads:
            raise DataError(
                f"“{display}” cannot be stored safely; rename the file and attach it again."
            )
        if not target.exists():
            shutil.copyfile(source, target, follow_symlinks=True)
        self.conversations.ensure_thread(thread_id)
        return self.conversations.add_dataset(
            thread_id, name=display, path=target, sha256=file_sha256(target)
        )

    async def run_turn(
        self, thread_id: str, text: str, *, attachments: Sequence[DatasetRecord] = ()
    ) -> AsyncIterator[Event]:
        """Answer ``text`` in ``thread_id``, yielding events."""
        async for event in self.agent.run_turn(thread_id, text, attachments=attachments):
            yield event

    async def stop(self, thread_id: str) -> None:
        """Stop the thread's work: the training worker keeps what finished; running code is interrupted."""
        handle = self.services.workers.get(thread_id)
        if handle is not None:
            handle.request_stop()
        await self.sandboxes.interrupt(thread_id)

    async def close(self) -> None:
        """Release kernels and connections."""
        await self.sandboxes.close_all()
        if self._router is not None:
            await self._router.aclose()
        self.db.close()

    def _make_context(self, thread_id: str, call: ToolCall, emit: object) -> ToolContext:
        return ToolContext(thread_id, call, self.services, emit)  # type: ignore[arg-type]

    def _system_prompt(self, thread_id: str) -> str:
        datasets = self.conversations.datasets(thread_id)
        listed = ", ".join(f"{d.name} (dataset_id {d.id})" for d in datasets) or "none yet"
        return render_prompt("system", datasets=listed, budget_s=self.settings.budget_s)


def safe_file_name(name: str, *, max_chars: int = 120) -> str:
    """A file name that cannot leave its folder: base name only, no control characters."""
    name = unicodedata.normalize("NFC", name.replace("\x00", "")).replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())
    base = re.sub(r"\s+", " ", base).strip().lstrip(".")
    if not base:
        base = "upload.csv"
    stem, dot, suffix = base.rpartition(".")
    if dot and len(base) > max_chars:
        base = stem[: max_chars - len(suffix) - 1] + "." + suffix
    return base[:max_chars]


def _free_name(folder: Path, name: str) -> Path:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    for index in range(2, 10_000):
        candidate = folder / (f"{stem}-{index}.{suffix}" if suffix else f"{stem}-{index}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise DataError("Too many files with the same name in this conversation.")
