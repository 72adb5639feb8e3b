"""The assistant as one object a front end holds: settings, store, router, sandbox, tools, loop.

Chainlit, the terminal chat and tests all build an :class:`Assistant` from
:class:`~assistant.settings.Settings` and call :meth:`Assistant.attach_file`,
:meth:`Assistant.run_turn` and :meth:`Assistant.stop`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.agent import Agent, TurnLimits
from assistant.approval import ApprovalPolicy, Approver, CodeApproval
from assistant.connection_secrets import mask_urls
from assistant.context import SessionServices, ToolContext
from assistant.errors import ToolError
from assistant.events import Event
from assistant.offline import OfflineAssistant
from assistant.offline.facts import FileFacts, facts_of_frame
from assistant.plan_changes import changes_of_run, load_changes, save_changes, update_changes
from assistant.private_files import restrict_data_dir
from assistant.processes import owner_alive
from assistant.prompts import render_prompt
from assistant.providers import ChatSettings, RouterNotice
from assistant.providers.base import Model, ToolCall
from assistant.providers.thread_models import ThreadModels
from assistant.sandbox import SandboxPool
from assistant.settings import Settings
from assistant.spend import SpendGuard
from assistant.store import (
    ConversationStore,
    Database,
    DatasetRecord,
    RunRecord,
    RunStore,
)
from assistant.summarise import HistorySummariser
from assistant.thread_settings import (
    ThreadChoice,
    choice_from_panel,
    default_choice,
    load_choice,
    save_choice,
    usable_providers,
)
from assistant.toolbox import all_tools, load_dataset
from assistant.untrusted import context_message
from assistant.workspace import Workspace, safe_file_name
from assistant.workspace_mirror import WorkspaceMirror
from tools.errors import DataError, MlchatError, UserFacingError
from tools.io import safe_files
from tools.io.load import file_sha256

log = logging.getLogger(__name__)

RERUN_MESSAGE = "Train again with the same settings."
"""The turn a "Run again" offer sends after :meth:`Assistant.prepare_rerun`."""

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


@dataclass(frozen=True, slots=True)
class InterruptedRun:
    """A training run the app's stop cut off, as told to the user once."""

    run_id: str
    message: str


def _mirror_of(settings: Settings) -> WorkspaceMirror | None:
    url = settings.workspace_url
    if not url or "://" not in url or url.startswith("file://"):
        return None  # the workspaces are local folders (or a shared mount), used directly
    return WorkspaceMirror(url)


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
        provider: Model | None = None,
        sandboxes: SandboxPool | None = None,
    ) -> None:
        self.settings = settings
        restrict_data_dir(settings.data_dir)
        self.db = Database(settings.store_location)
        self.mirror = _mirror_of(settings)
        self.conversations = ConversationStore(self.db)
        self.runs = RunStore(self.db)
        self.runs.mark_interrupted(is_alive=owner_alive)  # runs of a server that died
        self.notices: tuple[RouterNotice, ...] = ()
        self._models: ThreadModels | None = None
        self._choices: dict[str, ThreadChoice] = {}
        self.spend = SpendGuard(settings.spend, db=self.db)
        self._facts: dict[tuple[str, str], FileFacts] = {}
        offline: OfflineAssistant | None = None
        if provider is None:
            offline = OfflineAssistant(facts_of=self.file_facts)
            self._models = ThreadModels(
                settings, db=self.db, offline=offline, guard=self.spend, choice_of=self.choice
            )
            provider = self._models
            self.notices = self._models.notices
            self.provider_name = self._models.default_provider
            self.model_name = self._models.default_model
        else:
            self.provider_name = provider.name
            self.model_name = settings.model or "scripted"
        self.default_choice = default_choice(
            settings,
            provider=self.provider_name,  # type: ignore[arg-type]
            model=self.model_name,
        )
        self.sandboxes = sandboxes if sandboxes is not None else SandboxPool(settings)
        self.services = SessionServices(
            settings=settings,
            conversations=self.conversations,
            runs=self.runs,
            sandboxes=self.sandboxes,
            language_model=self._language_model if self._models is not None else None,
        )
        self.agent = Agent(
            provider=provider,
            tools=all_tools(),
            conversations=self.conversations,
            make_context=self._make_context,
            chat_settings=ChatSettings(
                model=self.model_name, max_tokens=settings.max_output_tokens
            ),
            system_prompt=self._system_prompt,
            spend=self.spend,
            summariser=(
                HistorySummariser(self._models.small_model_for, self.db)
                if self._models is not None and settings.small_model
                else None
            ),
            limits=TurnLimits(
                max_tool_calls=settings.max_tool_calls,
                deadline_s=settings.turn_deadline_s,
                prompt_tokens=settings.prompt_tokens,
            ),
            context_of=self._context,
            approval=CodeApproval(
                policy_of=self.code_approval,
                allow_for_conversation=self.allow_code,
                is_offline_call=offline.issued if offline is not None else lambda call: False,
            ),
        )

    @property
    def is_offline(self) -> bool:
        """True when the rule-based offline assistant answers by default."""
        return self.provider_name == "offline"

    def choice(self, thread_id: str | None) -> ThreadChoice:
        """The provider, model, sandbox and budget ``thread_id`` runs with (stored or default)."""
        if thread_id is None:
            return self.default_choice
        choice = self._choices.get(thread_id)
        if choice is None:
            choice = load_choice(self.db, thread_id, default=self.default_choice)
            if choice.provider not in usable_providers(self.settings):
                # its key was removed since it was chosen; what the user allowed stays allowed
                choice = dataclasses.replace(
                    self.default_choice, code_approval=choice.code_approval
                )
            self._choices[thread_id] = choice
        return choice

    def choose(self, thread_id: str, values: Mapping[str, object]) -> ThreadChoice:
        """Apply the settings panel's ``values`` to ``thread_id`` from its next turn on.

        Stores the choice with the thread so a resumed conversation keeps it.
        Raises :class:`~tools.errors.UserFacingError` for a choice that cannot work.
        """
        current = self.choice(thread_id)
        choice = choice_from_panel(values, current=current, settings=self.settings)
        if self._models is None and choice.provider != current.provider:
            raise UserFacingError("This assistant was started with a fixed model.")
        if self._models is not None:
            self._models.router_for(choice.provider, choice.model)  # fails now, not next turn
        self.conversations.ensure_thread(thread_id)
        save_choice(self.db, thread_id, choice)
        if choice.budget_s != current.budget_s:
            try:
                update_changes(self.db, thread_id, budget_s=choice.budget_s)
            except ToolError as exc:
                raise UserFacingError(
                    f"A training budget of {choice.budget_s:,} s cannot be used: "
                    f"{exc.args[0] if exc.args else exc}"
                ) from None
        self._choices[thread_id] = choice
        log.info(
            "thread_settings thread=%s provider=%s model=%s sandbox=%s budget_s=%d",
            thread_id,
            choice.provider,
            choice.model,
            choice.sandbox,
            choice.budget_s,
        )
        return choice

    def code_approval(self, thread_id: str) -> ApprovalPolicy:
        """Whether code a model writes in ``thread_id`` needs asking (``assistant/approval.py``)."""
        return self.choice(thread_id).code_approval

    def allow_code(self, thread_id: str) -> None:
        """Stop asking before code runs in ``thread_id`` (the user chose "allow for this conversation")."""
        choice = dataclasses.replace(self.choice(thread_id), code_approval="conversation")
        self.conversations.ensure_thread(thread_id)
        save_choice(self.db, thread_id, choice)
        self._choices[thread_id] = choice

    def file_facts(self, thread_id: str) -> FileFacts | None:
        """The columns (and few-valued columns' values) of the file the thread trains on.

        That is the latest run's file, else the newest one.

        Read through the same door as the tools: only a regular file inside the
        thread's uploads, within the size limit. ``None`` when there is no file or
        it cannot be read (the offline rules then work from the words alone).
        """
        datasets = self.conversations.datasets(thread_id)
        if not datasets:
            return None
        record = datasets[-1]
        last = self.runs.latest(thread_id)
        if last is not None:  # the file the conversation trains on, not a file to score
            record = next((d for d in datasets if d.id == last.dataset_id), record)
        if not safe_files.is_regular_beneath(self.workspace(thread_id).uploads, record.path):
            return None
        key = (record.id, record.sha256)
        if key not in self._facts:
            try:
                loaded = load_dataset(record, max_bytes=self.settings.max_upload_mb << 20)
            except (MlchatError, OSError, ValueError) as exc:
                log.info("file_facts_unread thread=%s reason=%s", thread_id, type(exc).__name__)
                return None
            if len(self._facts) >= 16:
                self._facts.pop(next(iter(self._facts)))
            self._facts[key] = facts_of_frame(record.id, loaded.frame, words=loaded.parser.words)
        planned = load_changes(self.db, thread_id).target
        return dataclasses.replace(self._facts[key], planned_target=planned)

    def workspace(self, thread_id: str) -> Workspace:
        """The thread's workspace (created with its app folders on first use)."""
        return Workspace.at(self.settings.workspace_for(thread_id))

    def attach_file(
        self, thread_id: str, source: Path, *, name: str | None = None
    ) -> DatasetRecord:
        """Copy an uploaded file into the thread's upload folder and record it as a dataset.

        The one way a file enters a conversation: the stored name keeps only a safe
        base name (:func:`~assistant.workspace.safe_file_name`), the size limit is
        checked before anything is copied, and the copy never follows or overwrites
        a link (:meth:`~assistant.workspace.Workspace.add_upload`).
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
        target = self.workspace(thread_id).add_upload(source, display)
        self.conversations.ensure_thread(thread_id)
        return self.conversations.add_dataset(
            thread_id, name=display, path=target, sha256=file_sha256(target)
        )

    async def run_turn(
        self,
        thread_id: str,
        text: str,
        *,
        attachments: Sequence[DatasetRecord] = (),
        approver: Approver | None = None,
    ) -> AsyncIterator[Event]:
        """Answer ``text`` in ``thread_id``, yielding events.

        ``approver`` asks the user before code a language model wrote runs
        (when the conversation's policy is "ask"); without one such code is skipped.
        """
        text = mask_urls(text)  # a database password stays in this process, out of history
        await self.pull_workspace(thread_id)
        await self.sandboxes.use_kind(thread_id, self.choice(thread_id).sandbox)
        turn = self.agent.run_turn(thread_id, text, attachments=attachments, approver=approver)
        try:
            async for event in turn:
                yield event
        finally:
            await self.push_workspace(thread_id)

    async def pull_workspace(self, thread_id: str) -> None:
        """Bring the conversation's files from ``MLCHAT_WORKSPACE_URL`` (when it is mirrored)."""
        if self.mirror is not None:
            await asyncio.to_thread(self.mirror.pull, self.settings.workspace_for(thread_id))

    async def push_workspace(self, thread_id: str) -> None:
        """Send the conversation's new files to ``MLCHAT_WORKSPACE_URL`` (when it is mirrored)."""
        if self.mirror is not None:
            await asyncio.to_thread(self.mirror.push, self.settings.workspace_for(thread_id))

    async def regenerate(
        self, thread_id: str, *, approver: Approver | None = None
    ) -> AsyncIterator[Event]:
        """Answer the last message of ``thread_id`` again, bypassing the response cache."""
        await self.pull_workspace(thread_id)
        await self.sandboxes.use_kind(thread_id, self.choice(thread_id).sandbox)
        try:
            async for event in self.agent.regenerate(thread_id, approver=approver):
                yield event
        finally:
            await self.push_workspace(thread_id)

    def take_interrupted_notice(self, thread_id: str) -> InterruptedRun | None:
        """Once per interrupted run: a sentence telling the user their training was cut off.

        Runs are marked interrupted when the app starts after a crash; the first
        time the conversation is opened again this returns the notice (and
        :meth:`prepare_rerun` the request that runs it again), later ``None``.
        """
        run = self.runs.take_interrupted_notice(thread_id)
        if run is None:
            return None
        self.prepare_rerun(thread_id, run.id)
        return InterruptedRun(run.id, interrupted_notice(run))

    def prepare_rerun(self, thread_id: str, run_id: str) -> str:
        """Make the interrupted run's plan the thread's plan; return the message that reruns it."""
        run = self.runs.get(run_id)
        if run is None or run.thread_id != thread_id:
            raise UserFacingError("That training run is not part of this conversation.")
        try:
            changes = changes_of_run(run.plan)
        except ToolError:
            log.warning("rerun_plan_unusable thread=%s run=%s", thread_id, run_id)
            raise UserFacingError(
                "That run's settings can no longer be used. Say “train” to start a new run."
            ) from None
        save_changes(self.db, thread_id, changes)
        return RERUN_MESSAGE

    async def stop(self, thread_id: str) -> None:
        """Stop the thread's work: the training worker keeps what finished; running code is interrupted."""
        handle = self.services.workers.get(thread_id)
        if handle is not None:
            handle.request_stop()
        await self.sandboxes.interrupt(thread_id)

    async def close(self) -> None:
        """Release kernels and connections."""
        await self.sandboxes.close_all()
        if self._models is not None:
            await self._models.aclose()
        self.db.close()

    def _language_model(self, thread_id: str) -> tuple[Model, ChatSettings] | None:
        """The conversation's model for a tool's own structured call; ``None`` offline."""
        choice = self.choice(thread_id)
        if self._models is None or choice.provider == "offline":
            return None
        return self._models, ChatSettings(choice.model, max_tokens=self.settings.max_output_tokens)

    def _make_context(self, thread_id: str, call: ToolCall, emit: object) -> ToolContext:
        return ToolContext(thread_id, call, self.services, emit)  # type: ignore[arg-type]

    def _system_prompt(self, thread_id: str) -> str:
        del thread_id  # nothing from the conversation enters the system prompt
        return render_prompt("system")

    def _context(self, thread_id: str, summary: str | None) -> str:
        """The quoted ``<data>`` message: datasets (names capped), budget, summary."""
        datasets = [(d.id, d.name) for d in self.conversations.datasets(thread_id)]
        budget_s = self.choice(thread_id).budget_s
        return context_message(datasets, budget_s=budget_s, summary=summary)


def interrupted_notice(run: RunRecord) -> str:
    """What the user reads about a run the app's crash or restart cut off."""
    target = run.plan.get("target")
    what = f"The training run to predict “{target}”" if target else "The training run"
    return (
        f"{what} was interrupted: the app stopped while it was running, so it has no "
        "model. Its settings are kept; you can run it again."
    )
