"""The tool-calling loop: user text in, typed events out, provider-agnostic.

One turn: store the user's message, send the trimmed history and the tool
specs to the provider, stream its text, run the tools it calls (calls that change
the conversation's state one at a time in the model's order, then the read-only
ones concurrently; progress streamed as events), feed the results back, and
repeat until the model answers without calling a tool. A per-turn cap on tool
calls and a per-turn deadline bound the work. The grounding check
(``assistant/grounding.py``) reads each sentence as it streams and shows it
once its numbers match the facts the tools produced; the first that fails is
held with the rest, the model gets one rewrite with the facts in hand, and a
number still unchecked after it is shown with a note naming it. A call that
changes state runs only when the user's message asked for that kind of work
(``assistant/requested.py``), so text in a file cannot start it. Code a model wants to
run waits for the user's approval (``assistant/approval.py``) with the
deadline paused; untrusted context (file names, the summary of dropped turns)
goes in a quoted ``<data>`` message just before the turn's user message, never
inside the system prompt (so the system prompt and earlier turns stay an
unchanged, cacheable prefix). How the loop acts on a reply that was cut,
refused, blocked, malformed or too long is in ``assistant/reply_ends.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistant.approval import CODE_TOOLS, DECLINED, Approver, CodeApproval, CodeRequest
from assistant.errors import ProviderContextExceeded, ProvidersExhausted, ToolError
from assistant.events import (
    Event,
    Failed,
    Notice,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnFinished,
    Usage,
)
from assistant.grounding import (
    GROUNDING_CHECK,
    ClaimChecker,
    Held,
    HeldText,
    Sources,
    describe_facts,
    sources_of,
)
from assistant.history import trim_history
from assistant.offline.wording import for_person, summary_for_person
from assistant.providers.base import (
    ChatSettings,
    FinishReason,
    Message,
    Model,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
)
from assistant.providers.tokens import count_prompt_tokens, count_text_tokens
from assistant.providers.usage import CallContext, CallRecord, insert_call
from assistant.reply_ends import UNENDED, Retries, plan_end
from assistant.requested import asked_for, not_asked_message
from assistant.spend import SpendGuard, spend_scope
from assistant.store import ConversationStore, DatasetRecord, StoredMessage
from assistant.toolkit import Tool, ToolResult
from assistant.untrusted import CONTEXT_NAME, quote
from tools.errors import MlchatError, UserFacingError

log = logging.getLogger(__name__)

EmitFn = Callable[[Event], None]
ContextOf = Callable[[str, str | None], str]
"""``(thread_id, summary) -> text`` of the user-role message with the conversation's
untrusted context (datasets, the summary of dropped turns) as a quoted ``<data>`` block."""
ContextFactory = Callable[[str, ToolCall, EmitFn], Any]
"""``(thread_id, call, emit) -> ctx`` passed as the first argument of every tool."""


@dataclass(frozen=True, slots=True)
class TurnLimits:
    """Bounds of one turn."""

    max_tool_calls: int = 12
    deadline_s: float = 600.0
    prompt_tokens: int = 24_000
    """Token budget of each prompt: system prompt, history and tool results (tool specs excluded)."""


@dataclass(frozen=True, slots=True)
class _ModelReply:
    text: str
    calls: tuple[ToolCall, ...]
    provider_state: dict[str, Any] = field(default_factory=dict)
    usage: tuple[CallRecord, ...] = ()
    """Usage rows of the call, stored in the same transaction as the reply's message."""
    reason: FinishReason = "stop"
    detail: str = ""
    checked: Held = field(default_factory=lambda: Held("", "", ()))
    """What the grounding check showed of the text, and what it held back."""


class _TurnDeadline(Exception):
    pass


class _Deadline:
    """The turn's deadline, paused while the user is asked whether code may run."""

    def __init__(self, budget_s: float) -> None:
        self.at = time.monotonic() + budget_s
        self.timeout: asyncio.Timeout | None = None
        """The running tools' timeout, rescheduled when the deadline moves."""
        self._pauses = 0
        self._paused_at = 0.0

    def remaining_s(self) -> float:
        return self.at - time.monotonic()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the clock for the time spent inside (nested and concurrent pauses count once)."""
        if self._pauses == 0:
            self._paused_at = time.monotonic()
            self._reschedule(None)
        self._pauses += 1
        try:
            yield
        finally:
            self._pauses -= 1
            if self._pauses == 0:
                self.at += time.monotonic() - self._paused_at
                self._reschedule(asyncio.get_running_loop().time() + self.remaining_s())

    def _reschedule(self, when: float | None) -> None:
        if self.timeout is not None and not self.timeout.expired():
            self.timeout.reschedule(when)


@dataclass(slots=True)
class _Asking:
    """What a turn needs to ask the user about code: their message, the front end, the clock."""

    user_text: str
    approver: Approver | None
    deadline: _Deadline
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One question at a time, even when the model calls run_code twice in one batch."""
    answers_question: bool = False
    """The user's message answers a question the assistant asked the turn before."""


class Summariser(Protocol):
    """Summarises the turns dropped from the history (``assistant/summarise.py``)."""

    max_tokens: int
    """Longest summary; this much of the prompt budget is kept free for it."""

    def is_available(self, thread_id: str) -> bool:
        """Whether a summary can be had for this conversation."""
        ...

    async def summarise(
        self, thread_id: str, turn_id: str, dropped: Sequence[StoredMessage]
    ) -> str | None:
        """A summary of ``dropped``, or ``None`` to keep the template trimming."""
        ...


class Agent:
    """Runs conversation turns over ``provider`` with ``tools``.

    Args:
        provider: The model: the router over the configured providers (or a test double).
        tools: The tools the model may call.
        conversations: Where threads, messages and datasets are stored.
        make_context: Builds the context object each tool receives.
        chat_settings: Model name, temperature and output limit.
        system_prompt: The system prompt, or a function of the thread id that renders it.
        limits: Tool-call cap, deadline and history budget of a turn.
        spend: Rate limits, spend caps and the per-turn cost line (issue 10).
        summariser: Summarises the turns trimmed from the history (the small model).
        approval: When code a model wrote needs the user's approval (``assistant/approval.py``).
        context_of: The context message sent after the system prompt (see :data:`ContextOf`);
            file names and summaries go there, never into the system prompt.
    """

    def __init__(
        self,
        *,
        provider: Model,
        tools: Sequence[Tool],
        conversations: ConversationStore,
        make_context: ContextFactory,
        chat_settings: ChatSettings,
        system_prompt: str | Callable[[str], str],
        limits: TurnLimits = TurnLimits(),
        spend: SpendGuard | None = None,
        summariser: Summariser | None = None,
        approval: CodeApproval | None = None,
        context_of: ContextOf | None = None,
    ) -> None:
        self.provider = provider
        self.tools = {t.name: t for t in tools}
        self.conversations = conversations
        self.make_context = make_context
        self.chat_settings = chat_settings
        self.system_prompt = system_prompt
        self.limits = limits
        self.spend = spend
        self.summariser = summariser
        self.approval = approval or CodeApproval()
        self.context_of = context_of

    async def run_turn(
        self,
        thread_id: str,
        text: str,
        *,
        attachments: Sequence[DatasetRecord] = (),
        approver: Approver | None = None,
    ) -> AsyncIterator[Event]:
        """Answer ``text`` in ``thread_id``, yielding events as they happen.

        ``approver`` asks the user before code a model wrote runs; without one,
        such code is skipped unless the conversation's policy allows it.
        """
        turn_id = uuid.uuid4().hex[:12]
        self.conversations.ensure_thread(thread_id, title=text[:60])
        content = text
        if attachments:
            listed = ", ".join(f"{quote(d.name)} (dataset {d.id})" for d in attachments)
            content = f"{text}\n\n[Attached: {listed}]"
        self.conversations.add_messages(
            thread_id, [{"role": "user", "content": content}], turn_id=turn_id
        )
        async for event in self._drive(thread_id, turn_id, text, approver, fresh=False):
            yield event

    async def regenerate(
        self, thread_id: str, *, approver: Approver | None = None
    ) -> AsyncIterator[Event]:
        """Answer the last user message of ``thread_id`` again, from the model, not the cache.

        The replies of that turn (text, tool calls and results) are removed first.
        """
        last = self.conversations.drop_last_replies(thread_id)
        if last is None:
            yield Failed("There is no message to answer again yet.")
            yield TurnFinished("", stopped=True)
            return
        turn_id, text = last
        async for event in self._drive(thread_id, turn_id, text, approver, fresh=True):
            yield event

    async def _drive(
        self, thread_id: str, turn_id: str, text: str, approver: Approver | None, *, fresh: bool
    ) -> AsyncIterator[Event]:
        """Run the turn in a task and yield its events as they come."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        with spend_scope(thread_id, emit=queue.put_nowait):
            worker = asyncio.create_task(
                self._turn(thread_id, turn_id, queue, text, approver, fresh=fresh)
            )
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            if not worker.done():
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
            elif worker.exception() is not None:
                log.error("turn_failed thread=%s turn=%s", thread_id, turn_id)

    async def _turn(
        self,
        thread_id: str,
        turn_id: str,
        queue: asyncio.Queue[Event | None],
        text: str,
        approver: Approver | None,
        *,
        fresh: bool = False,
    ) -> None:
        emit = queue.put_nowait
        deadline = _Deadline(self.limits.deadline_s)
        asking = _Asking(
            text, approver, deadline, answers_question=self._answers_question(thread_id, turn_id)
        )
        calls_made = 0
        rewritten = False
        seen = ""  # what the user has already been shown of an answer being rewritten
        retries = Retries()
        extra: tuple[Message, ...] = ()
        squeeze = False
        cut = ""  # a reply cut at the output limit, shown, that the next reply continues
        try:
            while True:
                reply = await self._ask_model(
                    thread_id,
                    turn_id,
                    emit,
                    deadline,
                    extra=extra,
                    squeeze=squeeze,
                    fresh=fresh,
                    rewritten=rewritten,
                    seen=seen,
                )
                plan = plan_end(reply.reason, reply.detail, reply.text, bool(reply.calls), retries)
                if plan.notice is not None:
                    emit(plan.notice)
                if plan.action == "again":
                    self._save_usage(list(reply.usage))
                    extra, squeeze = plan.extra, squeeze or plan.squeeze
                    if plan.keep_text:
                        cut += reply.text
                    continue
                if plan.action == "finish":
                    store = cut + plan.store
                    self._finish_early(thread_id, turn_id, reply, plan.note, store, emit)
                    emit(TurnFinished(store or reply.text, stopped=plan.stopped))
                    return
                extra = ()
                if cut:  # the continuation of a cut reply: one message with what came before
                    reply = dataclasses.replace(reply, text=cut + reply.text)
                    if not reply.calls:
                        seen += cut  # already shown: the stored answer starts with it
                    cut = ""
                if not reply.calls:
                    checked = reply.checked
                    if checked.unchecked and not rewritten:
                        rewritten = True
                        seen += checked.shown
                        self._save(
                            thread_id,
                            turn_id,
                            [
                                {"role": "assistant", "content": reply.text},
                                {
                                    "role": "user",
                                    "content": self._correction(thread_id, checked, seen),
                                    "name": GROUNDING_CHECK,
                                },
                            ],
                            reply.usage,
                        )
                        emit(Notice("Checking a number in this answer against the results..."))
                        continue
                    text = seen + checked.shown
                    self._save(
                        thread_id,
                        turn_id,
                        [
                            {
                                "role": "assistant",
                                "content": text,
                                "provider_state": reply.provider_state,
                            }
                        ],
                        reply.usage,
                    )
                    if self.spend is not None:
                        for notice in self.spend.finish_turn(thread_id, turn_id):
                            emit(notice)
                    emit(TurnFinished(text))
                    return
                if calls_made + len(reply.calls) > self.limits.max_tool_calls:
                    message = (
                        f"I stopped after {calls_made} tool calls in this turn, the limit set by "
                        "MLCHAT_MAX_TOOL_CALLS. Ask me to continue if you want more."
                    )
                    self._save(
                        thread_id,
                        turn_id,
                        [{"role": "assistant", "content": reply.text or message}],
                        reply.usage,
                    )
                    emit(Notice(message, level="warning"))
                    emit(TurnFinished(reply.text, stopped=True))
                    return
                calls_made += len(reply.calls)
                await self._run_tools(thread_id, turn_id, reply, emit, asking)
        except _TurnDeadline:
            message = (
                f"This turn took longer than {self.limits.deadline_s:g} s (MLCHAT_TURN_DEADLINE_S) "
                "and was stopped. What finished so far is kept."
            )
            emit(Failed(message))
            emit(TurnFinished("", stopped=True))
        except UserFacingError as exc:
            emit(Failed(str(exc)))
            emit(TurnFinished("", stopped=True))
        except MlchatError as exc:
            reference = uuid.uuid4().hex[:8]
            log.warning("turn_error ref=%s class=%s", reference, type(exc).__name__)
            emit(Failed(_provider_message(exc), reference=reference))
            emit(TurnFinished("", stopped=True))
        except asyncio.CancelledError:
            raise
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("turn_crashed ref=%s", reference)
            emit(Failed(f"Something went wrong on our side (reference {reference}).", reference))
            emit(TurnFinished("", stopped=True))
        finally:
            queue.put_nowait(None)

    def _finish_early(
        self,
        thread_id: str,
        turn_id: str,
        reply: _ModelReply,
        note: str,
        store: str,
        emit: EmitFn,
    ) -> None:
        """End a turn on an unusual reply: show ``note``, store ``store`` (never an empty message)."""
        if note:
            emit(TextDelta(note))
        if store:
            row = {"role": "assistant", "content": store, "provider_state": reply.provider_state}
            self._save(thread_id, turn_id, [row], reply.usage)
        else:
            self._save_usage(list(reply.usage))

    async def _ask_model(
        self,
        thread_id: str,
        turn_id: str,
        emit: EmitFn,
        deadline: _Deadline,
        *,
        extra: Sequence[Message] = (),
        squeeze: bool = False,
        fresh: bool = False,
        rewritten: bool = False,
        seen: str = "",
    ) -> _ModelReply:
        """One request to the model; ``extra`` is appended (turn-local notes), ``squeeze``
        halves the history budget (after the model said the prompt is too long), ``fresh``
        skips the response cache (a regenerate).

        The text is shown sentence by sentence, each once its numbers are checked.
        Before the one rewrite a failing sentence is held with everything after
        it; after it (``rewritten``), and for text that comes with tool calls or
        ends the turn early, it is shown with a note naming the numbers. A
        rewrite that starts by repeating what was ``seen`` has the repeat dropped.
        """
        model = self.chat_settings.model
        system = (
            self.system_prompt
            if isinstance(self.system_prompt, str)
            else self.system_prompt(thread_id)
        )
        context, history = await self._history(thread_id, turn_id, system, model, squeeze=squeeze)
        messages = [Message("system", system), *_with_context(history, context), *extra]
        prompt_tokens = count_prompt_tokens(messages, model=model)
        specs = [t.spec for t in self.tools.values()]
        text_parts: list[str] = []
        calls: list[ToolCall] = []
        provider_state: dict[str, Any] = {}
        reason: FinishReason = "error"
        detail = UNENDED  # until the stream says how it ended
        remaining = deadline.remaining_s()
        if remaining <= 0:
            raise _TurnDeadline
        usage: list[CallRecord] = []
        context = CallContext(
            thread_id, turn_id, deferred=usage, prompt_tokens=prompt_tokens, fresh=fresh
        )
        checker = ClaimChecker(self._sources(thread_id))
        checker.observe(seen)  # a rewrite goes on from what was shown, and from its subject
        gate = HeldText(checker.check, annotate=rewritten, seen=seen)
        try:
            async with asyncio.timeout(remaining):
                stream = self.provider.stream(messages, specs, self.chat_settings, context=context)
                async for delta in stream:
                    match delta:
                        case StreamText(text=piece):
                            text_parts.append(piece)
                            if shown := gate.feed(piece):
                                emit(TextDelta(shown))
                        case StreamToolCall(call=call):
                            calls.append(call)
                        case StreamUsage():
                            emit(
                                Usage(
                                    provider=getattr(self.provider, "name", "?"),
                                    model=self.chat_settings.model,
                                    input_tokens=delta.input_tokens,
                                    output_tokens=delta.output_tokens,
                                    cached_tokens=delta.cached_tokens,
                                )
                            )
                        case StreamEnd(provider_state=state):
                            provider_state.update(state)
                            reason, detail = delta.reason, delta.detail
        except TimeoutError:
            self._save_usage(usage)
            raise _TurnDeadline from None
        except (ProviderContextExceeded, ProvidersExhausted) as exc:
            if not _says_too_long(exc):
                self._save_usage(usage)
                raise
            return _ModelReply("", (), usage=tuple(usage), reason="context_exceeded")
        except BaseException:
            self._save_usage(usage)  # failed calls have no message, but they are still counted
            raise
        text = "".join(text_parts)
        tail, checked = gate.finish()
        unusual = reason not in ("stop", "tool_calls")
        released = gate.release() if calls or unusual else ""
        if tail + released:
            emit(TextDelta(tail + released))
        if unusual:
            calls = []  # a cut or malformed batch never runs, not even its complete calls
            text = checked.shown + released  # as shown, notes included
        return _ModelReply(
            text, tuple(calls), provider_state, tuple(usage), reason, detail, checked
        )

    async def _history(
        self, thread_id: str, turn_id: str, system: str, model: str, *, squeeze: bool = False
    ) -> tuple[list[Message], list[Message]]:
        """The context message and the history, within the prompt budget with the system prompt.

        Turns dropped to fit are summarised by the small model when there is
        one (the summary joins the context message's quoted data, its size
        kept free in the budget); without one, or when it fails, they are
        simply dropped.
        """

        def count(text: str) -> int:
            return count_text_tokens(text, model=model)

        def context(summary: str | None) -> list[Message]:
            if self.context_of is None:
                return []
            return [Message("user", self.context_of(thread_id, summary), name=CONTEXT_NAME)]

        stored = self.conversations.messages(thread_id)
        fixed_tokens = count_prompt_tokens([Message("system", system), *context(None)], model=model)
        budget = self.limits.prompt_tokens // (2 if squeeze else 1) - fixed_tokens
        trimmed = trim_history(stored, max_tokens=max(0, budget), count_tokens=count)
        summariser = self.summariser
        if not trimmed.dropped or summariser is None or not summariser.is_available(thread_id):
            return context(None), trimmed.messages
        reserve = summariser.max_tokens * 2 + 10  # quoting (JSON escapes) may grow the summary
        shorter = trim_history(stored, max_tokens=max(0, budget - reserve), count_tokens=count)
        summary = await summariser.summarise(thread_id, turn_id, shorter.dropped)
        if not summary:
            return context(None), trimmed.messages
        return context(summary), shorter.messages

    def _save_usage(self, usage: list[CallRecord]) -> None:
        if usage:
            with self.conversations.db.transaction() as conn:
                for record in usage:
                    insert_call(conn, record)

    async def _run_tools(
        self, thread_id: str, turn_id: str, reply: _ModelReply, emit: EmitFn, asking: _Asking
    ) -> None:
        results: dict[str, str] = {}
        facts: dict[str, dict[str, Any]] = {}
        failed: set[str] = set()
        started: dict[str, float] = {}

        async def run_one(call: ToolCall) -> None:
            started[call.id] = time.monotonic()
            summary, is_error, facts[call.id] = await self._call_tool(thread_id, call, emit, asking)
            results[call.id] = summary
            if is_error:
                failed.add(call.id)
            shown = summary
            if self.approval.is_offline_call(call):  # no model reads it, a person does
                shown = for_person(call.name, summary) if is_error else summary_for_person(summary)
            emit(
                ToolFinished(
                    call.id, call.name, shown, time.monotonic() - started[call.id], is_error
                )
            )

        try:
            remaining = asking.deadline.remaining_s()
            if remaining <= 0:
                raise _TurnDeadline
            async with asyncio.timeout(remaining) as timeout:
                asking.deadline.timeout = timeout
                writes, reads = self._schedule(reply.calls)
                for call in writes:  # in the model's order, each seeing the last one's changes
                    await run_one(call)
                await asyncio.gather(*(run_one(call) for call in reads))
        except TimeoutError:
            raise _TurnDeadline from None
        finally:
            asking.deadline.timeout = None
            rows: list[dict[str, Any]] = [
                {
                    "role": "assistant",
                    "content": reply.text,
                    "tool_calls": [dataclasses.asdict(c) for c in reply.calls],
                    "provider_state": reply.provider_state,
                }
            ]
            for call in reply.calls:
                content = results.get(call.id, "The tool was stopped before it finished.")
                rows.append(
                    {
                        "role": "tool",
                        "content": content,
                        "tool_call_id": call.id,
                        "name": call.name,
                        "summary": _summary_of(content),
                        "facts": facts.get(call.id, {}),
                        "is_error": call.id in failed or call.id not in results,
                    }
                )
            self._save(thread_id, turn_id, rows, reply.usage)

    def _schedule(self, calls: Sequence[ToolCall]) -> tuple[list[ToolCall], list[ToolCall]]:
        """Split a batch into the state-changing calls (run in order, first) and the reads.

        A batch such as ``[set_plan(metric="f1"), train_models]`` must train with
        F1, and a read in the same batch must see what the writes did.
        """
        writes, reads = [], []
        for call in calls:
            tool = self.tools.get(call.name)
            (writes if tool is not None and tool.changes_state else reads).append(call)
        return writes, reads

    async def _call_tool(
        self, thread_id: str, call: ToolCall, emit: EmitFn, asking: _Asking
    ) -> tuple[str, bool, dict[str, Any]]:
        """Run one call; return (what the model is shown, whether it is an error, its facts).

        Errors have no facts: their text may echo the model's own arguments.
        """
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools))
            message = f"There is no tool named {call.name!r}. Available tools: {known}."
            emit(ToolStarted(call.id, call.name, {}))
            return message, True, {}
        try:
            arguments = tool.parse_arguments(call.arguments)
        except ToolError as exc:
            emit(ToolStarted(call.id, call.name, {}))
            return str(exc), True, {}
        emit(ToolStarted(call.id, call.name, _jsonable(arguments)))
        if (
            tool.changes_state
            and not self.approval.is_offline_call(call)
            and not asked_for(call.name, asking.user_text)
            and not asking.answers_question
        ):
            log.info("tool_not_asked tool=%s call=%s", call.name, call.id)
            return not_asked_message(call.name), True, {}
        if call.name in CODE_TOOLS and not await self._approved(
            thread_id, call, arguments, emit, asking
        ):
            return DECLINED, False, {}
        ctx = self.make_context(thread_id, call, emit)
        try:
            result: ToolResult = await tool.call(ctx, arguments)
        except (ToolError, UserFacingError) as exc:
            return str(exc), True, {}
        except asyncio.CancelledError:
            raise
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("tool_crashed tool=%s ref=%s", call.name, reference)
            return f"The {call.name} tool failed unexpectedly (reference {reference}).", True, {}
        for output in result.for_user:
            emit(
                dataclasses.replace(output, call_id=call.id)
                if hasattr(output, "call_id")
                else output
            )
        return result.for_model, False, _jsonable(dict(result.facts))

    async def _approved(
        self,
        thread_id: str,
        call: ToolCall,
        arguments: dict[str, Any],
        emit: EmitFn,
        asking: _Asking,
    ) -> bool:
        """Whether the code of ``call`` may run: by policy, as the user's own code, or by asking.

        The turn's deadline stops while the question waits; no answer within
        the approval timeout is a skip.
        """
        code = str(arguments.get("code", ""))
        async with asking.lock:  # an earlier answer in this batch may have allowed it
            if not self.approval.needs_asking(thread_id, call, code, asking.user_text):
                return True
            if asking.approver is None:
                emit(
                    Notice(
                        "Code the model wanted to run was skipped: nobody was asked to approve it."
                    )
                )
                return False
            with asking.deadline.paused():
                try:
                    async with asyncio.timeout(self.approval.timeout_s):
                        decision = await asking.approver.decide(
                            CodeRequest(thread_id, call.id, code)
                        )
                except TimeoutError:
                    emit(
                        Notice(
                            f"No answer within {self.approval.timeout_s:g} s, so the code was skipped.",
                            level="warning",
                        )
                    )
                    return False
        log.info("code_approval thread=%s call=%s decision=%s", thread_id, call.id, decision)
        if decision == "allow_conversation":
            self.approval.allow_for_conversation(thread_id)
        return decision != "skip"

    def _answers_question(self, thread_id: str, turn_id: str) -> bool:
        """Whether the assistant's last turn ended asking the user something (``ask_user``
        or a question): then the user's reply, even "churn", is their request."""
        for message in reversed(self.conversations.messages(thread_id)):
            if message.turn_id == turn_id:
                continue
            if message.role == "tool" and message.name == "ask_user":
                return True
            if message.role == "assistant" and message.content.strip():
                return message.content.rstrip().endswith("?")
            if message.role == "user" and message.name is None:
                return False
        return False

    def _sources(self, thread_id: str) -> Sources:
        """What the thread's answers may state: tool facts and the user's own numbers."""
        return sources_of(self.conversations.messages(thread_id))

    def _correction(self, thread_id: str, checked: Held, seen: str) -> str:
        """The one request to rewrite: which numbers failed, what was shown, the facts."""
        numbers = ", ".join(dict.fromkeys(checked.unchecked))
        if seen.strip():
            where = (
                f"The user has already seen the answer up to: {json.dumps(seen[-300:])}. "
                "Write only the rest of it, from there on,"
            )
        else:
            where = "Write the answer again"
        return (
            f"These numbers in your answer could not be checked against the tool results, so "
            f"that part was not shown: {numbers}. {where} stating only numbers these tool "
            "facts give (or none); name the model, column and metric each number is about, "
            "and put column names in backticks.\n" + describe_facts(self._sources(thread_id))
        )

    def _save(
        self,
        thread_id: str,
        turn_id: str,
        rows: list[dict[str, Any]],
        usage: tuple[CallRecord, ...] = (),
    ) -> None:
        """Store messages, and the usage rows of the call that produced them, atomically."""

        def store_usage(conn: Any) -> None:
            for record in usage:
                insert_call(conn, record)

        self.conversations.add_messages(
            thread_id, rows, turn_id=turn_id, also=store_usage if usage else None
        )


def _summary_of(content: str, *, max_chars: int = 300) -> str:
    """A short stand-in for an old tool result (its ``summary`` field when JSON, else a prefix)."""
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("summary"), str):
        return parsed["summary"][:max_chars]
    return content[:max_chars] + ("..." if len(content) > max_chars else "")


def _jsonable(arguments: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(arguments, default=str))


def _with_context(history: list[Message], context: list[Message]) -> list[Message]:
    """``history`` with the context message just before the current turn's user message.

    The system prompt and the history before this turn then form a prefix
    that does not change when the datasets or the summary do, and within a
    turn every step of the tool loop only appends: what prompt caches reuse.
    """
    start = next(
        (
            i
            for i in range(len(history) - 1, -1, -1)
            if history[i].role == "user" and history[i].name is None
        ),
        0,
    )
    return [*history[:start], *context, *history[start:]]


def _says_too_long(exc: Exception) -> bool:
    """Whether the provider (or, through the router, any provider) said the prompt is too long."""
    if isinstance(exc, ProvidersExhausted):
        return any(isinstance(e, ProviderContextExceeded) for e in exc.errors)
    return isinstance(exc, ProviderContextExceeded)


def _provider_message(exc: MlchatError) -> str:
    text = str(exc).strip()
    if text:
        return f"The language model could not answer: {text}"
    return "The language model could not answer right now. Please try again in a moment."
