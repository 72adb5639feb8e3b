"""``mlchat chat``: the assistant in a terminal, on the same loop, store and workspace as the UI.

With a message it runs one turn, prints the events as readable text (tables
as text, figures and files as paths) and exits; without one it reads
messages from a prompt until end of input. ``--thread`` continues a
conversation started earlier, in the browser or in an earlier call.

Code a language model wants to run is shown first with a y/n/a question
(:class:`TerminalApprover`); without a terminal to ask at it is skipped,
and ``--allow-code`` runs it without asking.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, assert_never

from assistant.approval import CodeRequest, Decision
from assistant.events import (
    Choices,
    Event,
    Failed,
    Figure,
    File,
    Notice,
    Table,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolStarted,
    TurnFinished,
    Usage,
)
from assistant.private_files import restrict_data_dir, restrict_new_files
from assistant.settings import Settings
from tools.errors import UserFacingError

if TYPE_CHECKING:
    from assistant.session import Assistant

EXIT_OK = 0
EXIT_BAD_INPUT = 2
_MAX_TABLE_ROWS = 30


def add_chat(commands: Any) -> None:
    """Register ``mlchat chat`` on the CLI's subcommand tree."""
    parser = commands.add_parser(
        "chat",
        help="chat with the assistant in the terminal (one message, or interactive)",
        description=(
            "Talk to the assistant from the terminal. With MESSAGE, run one turn and exit; "
            "without, read messages interactively. Uses the same settings, database and "
            "workspaces as the browser app, so --thread continues any conversation."
        ),
    )
    parser.add_argument("message", nargs="?", help="the message to send (omit for interactive)")
    parser.add_argument(
        "--file",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="attach a CSV, TSV, Parquet, Excel or JSON file (repeatable)",
    )
    parser.add_argument("--thread", help="continue the conversation with this id")
    parser.add_argument(
        "--allow-code",
        action="store_true",
        help="run code the language model writes without asking first",
    )
    parser.set_defaults(handler=run_chat_command)


def run_chat_command(args: argparse.Namespace) -> int:
    """Run ``mlchat chat`` with parsed arguments; returns the exit status."""
    settings = Settings.from_env()
    approver = TerminalApprover(
        sys.stdout, can_ask=sys.stdin.isatty(), allow_all=bool(args.allow_code)
    )
    return asyncio.run(
        _chat(settings, args.message, args.file, args.thread, sys.stdout, approver=approver)
    )


class TerminalApprover:
    """Asks in the terminal before code a model wrote runs: y (run), n (skip), a (allow all).

    Args:
        out: Where the code and the question are written.
        can_ask: Whether someone can answer (stdin is a terminal); if not, code is skipped
            with a note about ``--allow-code``.
        allow_all: ``--allow-code``: run without asking.
        ask: Reads one answer (``input`` by default).
    """

    def __init__(
        self,
        out: TextIO,
        *,
        can_ask: bool,
        allow_all: bool = False,
        ask: Callable[[str], str] = input,
    ) -> None:
        self.out = out
        self.can_ask = can_ask
        self.allow_all = allow_all
        self.ask = ask

    async def decide(self, request: CodeRequest) -> Decision:
        """Show the code and read the answer (see :class:`~assistant.approval.Approver`)."""
        if self.allow_all:
            return "run"
        if not self.can_ask:
            self.out.write(
                "\nnote: the model wanted to run code and there is no terminal to ask you, so it "
                "was skipped. Run `mlchat chat --allow-code ...` to allow code without asking.\n"
            )
            return "skip"
        self.out.write("\nThe model wants to run this code in the sandbox:\n")
        self.out.write("".join(f"  | {line}\n" for line in request.code.splitlines()))
        self.out.flush()
        while True:
            prompt = "Run it? [y]es, [n]o, [a]llow code for this conversation: "
            try:
                answer = (await asyncio.to_thread(self.ask, prompt)).strip().lower()
            except EOFError:
                return "skip"
            if answer in ("y", "yes"):
                return "run"
            if answer in ("n", "no", ""):
                return "skip"
            if answer in ("a", "allow", "always"):
                return "allow_conversation"


async def _chat(
    settings: Settings,
    message: str | None,
    files: list[Path],
    thread: str | None,
    out: TextIO,
    *,
    approver: TerminalApprover | None = None,
) -> int:
    restrict_new_files()
    # Bad input is refused before the heavy import below, so a typo fails in a second.
    for path in files:
        if not path.is_file():
            raise UserFacingError(f"There is no file “{path}”.")
    if thread is not None and not _thread_exists(settings, thread):
        raise UserFacingError(
            f"There is no conversation “{thread}” in {settings.data_dir}. "
            "Leave out --thread to start a new one."
        )
    from assistant.session import Assistant  # heavy (SDKs, engine): only for this command

    assistant = Assistant(settings)
    try:
        thread_id = thread or uuid.uuid4().hex[:12]
        interrupted = assistant.take_interrupted_notice(thread_id) if thread else None
        if interrupted is not None:
            out.write(f"note: {interrupted.message} Say “train again” to run it again.\n")
        if thread is None:
            out.write(f"mlchat: data folder {settings.data_dir}\n")
            for notice in assistant.notices:
                out.write(f"note: {notice.message}\n")
        attachments = [assistant.attach_file(thread_id, path) for path in files]
        status = EXIT_OK
        if message is not None:
            status = await _one_turn(assistant, thread_id, message, attachments, out, approver)
        else:
            status = await _interactive(assistant, thread_id, attachments, out, approver)
        out.write(
            f'\nthread: {thread_id}  (continue with: mlchat chat --thread {thread_id} "...")\n'
        )
        return status
    finally:
        await assistant.close()


def _thread_exists(settings: Settings, thread: str) -> bool:
    """Whether the store holds conversation ``thread``, read without the assistant's stack."""
    from assistant.store import ConversationStore, Database  # only this command needs the store

    restrict_data_dir(settings.data_dir)
    db = Database(settings.store_location)
    try:
        return ConversationStore(db).thread_exists(thread)
    finally:
        db.close()


async def _interactive(
    assistant: Assistant,
    thread_id: str,
    attachments: list[Any],
    out: TextIO,
    approver: TerminalApprover | None,
) -> int:
    out.write(
        "Type a message (Ctrl-D to quit). Attach files with: /attach PATH. "
        "Answer the last message again with: /regenerate\n"
    )
    pending = list(attachments)
    offered: list[str] = []
    while True:
        try:
            line = await asyncio.to_thread(input, "you> ")
        except EOFError:
            return EXIT_OK
        if not line.strip():
            continue
        line = picked(line, offered)
        if line.startswith("/attach "):
            try:
                pending.append(
                    assistant.attach_file(thread_id, Path(line[8:].strip()).expanduser())
                )
                out.write(f"attached {pending[-1].name} as {pending[-1].id}\n")
            except (UserFacingError, OSError) as exc:
                out.write(f"error: {exc}\n")
            continue
        if line.strip() == "/regenerate":
            await _one_turn(assistant, thread_id, line, [], out, approver, regenerate=True)
            continue
        try:
            await _one_turn(assistant, thread_id, line, pending, out, approver, offered=offered)
        except KeyboardInterrupt:
            out.write("\n(stopped)\n")
        pending = []


async def _one_turn(
    assistant: Assistant,
    thread_id: str,
    message: str,
    attachments: list[Any],
    out: TextIO,
    approver: TerminalApprover | None,
    *,
    regenerate: bool = False,
    offered: list[str] | None = None,
) -> int:
    status = EXIT_OK
    renderer = _Renderer(out, assistant.settings.workspace_for(thread_id))
    if offered is not None:
        offered.clear()
        renderer.offered = offered
    turn = (
        assistant.regenerate(thread_id, approver=approver)
        if regenerate
        else assistant.run_turn(thread_id, message, attachments=attachments, approver=approver)
    )
    async for event in turn:
        renderer.render(event)
        if isinstance(event, Failed):
            status = EXIT_BAD_INPUT
    return status


class _Renderer:
    """Prints events as plain text."""

    def __init__(self, out: TextIO, workspace: Path) -> None:
        self.out = out
        self.workspace = workspace
        self.mid_line = False
        self.last_progress = ""
        self.pending_table: Table | None = None
        self.offered: list[str] = []
        """The choices of the last question shown; a reply "2" picks the second."""

    def render(self, event: Event) -> None:
        match event:
            case TextDelta(text=text):
                self._write(text)
                self.mid_line = not text.endswith("\n")
            case ToolStarted(tool=tool, arguments=arguments):
                shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
                self._line(f"· {tool}({shown})")
            case ToolProgress(message=message):
                if message and message != self.last_progress and not message.startswith("Plan:"):
                    self._line(f"  … {message.splitlines()[-1][:160]}")
                    self.last_progress = message
            case ToolFinished(tool=tool, elapsed_s=elapsed, is_error=is_error):
                self._line(f"· {tool} {'failed' if is_error else 'done'} in {elapsed:.1f} s")
            case Table(name="leaderboard"):
                self.pending_table = event  # updated per candidate; printed once at the end
            case Table():
                self._line(format_table(event))
            case Figure(title=title, png_path=png, plotly_json=plotly):
                target = png or self._save_plotly(title, plotly)
                self._line(f"[figure] {title}: {target}")
            case File(path=path, title=title):
                self._line(f"[file] {title}: {path}")
            case Choices(question=question, options=options):
                self._line(question)
                for number, option in enumerate(options, start=1):
                    self._line(f"  {number}. {option}")
                self._line("(answer with a number or your own words)")
                self.offered[:] = options
            case Notice(message=message, level=level):
                self._line(f"{'warning' if level == 'warning' else 'note'}: {message}")
            case Failed(message=message):
                self._line(f"error: {message}")
            case Usage():
                pass
            case TurnFinished():
                if self.pending_table is not None:
                    self._line(format_table(self.pending_table))
                    self.pending_table = None
                self._line("")
            case _:
                assert_never(event)

    def _save_plotly(self, title: str, plotly: str | None) -> str:
        if plotly is None:
            return "(no file)"
        from assistant.workspace import Workspace  # pulls in the engine: not for `mlchat --help`

        name = re.sub(r"[^\w-]+", "_", title).strip("_")[:60] + ".plotly.json"
        path = Workspace.at(self.workspace).write_bytes(Path("figures") / name, plotly.encode())
        return str(path)

    def _line(self, text: str) -> None:
        if self.mid_line:
            self._write("\n")
            self.mid_line = False
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def picked(line: str, offered: list[str]) -> str:
    """``line``, or the offered choice it names by number ("2" -> the second option)."""
    answer = line.strip().rstrip(".)")
    if answer.isdigit() and 1 <= int(answer) <= len(offered):
        return offered[int(answer) - 1]
    return line


def format_table(table: Table, *, max_rows: int = _MAX_TABLE_ROWS) -> str:
    """A table as aligned plain text."""
    rows = [[_cell(v) for v in row] for row in table.rows[:max_rows]]
    header = [str(c) for c in table.columns]
    widths = [
        max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
        for i in range(len(header))
    ]
    lines = [table.title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if len(table.rows) > max_rows:
        lines.append(f"... {len(table.rows) - max_rows} more rows")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
