"""The Chainlit entry point: ``chainlit run chat_app.py`` (or ``mlchat serve``).

Thin on purpose: it maps Chainlit events to the :class:`~assistant.session.Assistant`
and the assistant's events to Chainlit elements (through :mod:`ui.render`).

Login: the one-time link ``mlchat serve`` prints (``ui/login.py``), or password
auth with the local account described in ``assistant/cli/serve.py`` (user ``mlchat``;
password from ``MLCHAT_PASSWORD`` or generated into ``<data>/auth/password``). History, resume and feedback persist through
``ui/data_layer.py``; messages, datasets, runs and models persist in
``mlchat.db`` and the conversation's workspace under the same thread id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from pathlib import Path

import chainlit as cl
from chainlit.server import app as chainlit_server

from assistant.cli.serve import prepare_data_dir
from assistant.login_guard import LoginGuard, LoginLimiter, SecureCookies
from assistant.login_link import LOGIN_LINK_PATH, OneTimeLogin
from assistant.private_files import restrict_new_files
from assistant.samples import SAMPLE_TARGET, write_sample
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.spend.report import build_usage_report, format_usage_report
from assistant.thread_settings import ThreadChoice
from assistant.worker import warm_up
from tools.errors import UserFacingError
from ui.data_layer import build_data_layer, use_upload_folder
from ui.file_route import mount_file_route
from ui.login import mount_login_link
from ui.panel import describe_change, settings_widgets
from ui.render import CHOICE_ACTION, REGENERATE_ACTION, ChainlitApprover, TurnRenderer

log = logging.getLogger(__name__)

restrict_new_files()  # before any database, secret or upload is created
# Believe X-Forwarded-For / -Proto only from proxies the deployer names (uvicorn reads this
# when it starts the server, after importing this module).
os.environ.setdefault("FORWARDED_ALLOW_IPS", "")
SETTINGS = Settings.from_env()
chainlit_server.add_middleware(SecureCookies)
chainlit_server.add_middleware(
    LoginGuard,
    limiter=LoginLimiter(attempts=SETTINGS.login_attempts, window_s=SETTINGS.login_window_s),
    link_path=LOGIN_LINK_PATH,
)
LOGIN = prepare_data_dir(SETTINGS)
mount_login_link(OneTimeLogin.from_environment(os.environ), username=LOGIN.username)
DATA_LAYER = build_data_layer(
    SETTINGS.data_dir,
    database_url=SETTINGS.database_url,
    files_dir=SETTINGS.chat_files_dir,
    files_url=SETTINGS.chat_files_url,
)
mount_file_route(DATA_LAYER)
use_upload_folder(SETTINGS.data_dir / "tmp" / "uploads")
ASSISTANT = Assistant(SETTINGS)
threading.Thread(target=warm_up, name="worker-warm-up", daemon=True).start()
CONFINEMENT = ASSISTANT.sandboxes.confinement()
log.info(
    "chat_app_ready data_dir=%s provider=%s sandbox=%s confinement=%s",
    SETTINGS.data_dir,
    ASSISTANT.provider_name,
    SETTINGS.sandbox,
    CONFINEMENT.summary if CONFINEMENT is not None else "e2b",
)

SAMPLE_PROMPT = f"Train a model on the sample churn dataset to predict {SAMPLE_TARGET}."
STARTERS: dict[str, str] = {
    "Train on a sample dataset": SAMPLE_PROMPT,
    "What can you do?": "What can you do?",
}


def _welcome() -> str:
    if ASSISTANT.is_offline:
        mode = "the built-in offline assistant (no API key is set)"
    else:
        mode = f"{ASSISTANT.provider_name} ({ASSISTANT.model_name})"
    # The first clause of the confinement report ("no network (bubblewrap)"); the whole of it
    # is under "Usage and cost".
    shown = CONFINEMENT.summary.split(";")[0].removeprefix("Code sandbox: ") if CONFINEMENT else ""
    sandbox = f"the **local** sandbox ({shown})" if CONFINEMENT is not None else "**E2B**"
    return (
        "Hi! I train machine-learning models on the files you attach. "
        f"Running with **{mode}**; code runs in {sandbox}.\n\n"
        "New here? Click **Train on a sample dataset** below: a first model, its score and "
        "what it means in about half a minute.\n\n"
        "Or attach a CSV, TSV, Parquet, Excel or JSON file and say, for example, "
        "“train a model on this file to predict churn”. Then ask “why is tenure important?”, "
        "“predict on this file”, “deploy the model” or “download the model”."
    )


@cl.data_layer
def _data_layer() -> cl.data.BaseDataLayer:
    return DATA_LAYER


@cl.password_auth_callback
async def _login(username: str, password: str) -> cl.User | None:
    if LOGIN.accepts(username, password):
        return cl.User(identifier=username, metadata={"provider": "local"})
    log.info("login_refused")
    return None


@cl.on_chat_start
async def _start() -> None:
    # Chainlit names a thread started by an action after the action's name,
    # which is why each starter's name is its label.
    actions = [
        cl.Action(name=label, payload={"message": message}, label=label)
        for label, message in STARTERS.items()
    ]
    actions.append(cl.Action(name="usage", payload={}, label="Usage and cost"))
    await cl.Message(content=_welcome(), actions=actions).send()
    await _send_settings(ASSISTANT.default_choice)


async def _send_settings(choice: ThreadChoice) -> None:
    await cl.ChatSettings(settings_widgets(choice, SETTINGS)).send()


def _sandbox_status(choice: ThreadChoice) -> str:
    report = ASSISTANT.sandboxes.confinement(choice.sandbox)
    return report.summary if report is not None else "E2B (a separate virtual machine)"


@cl.on_settings_update
async def _settings_update(values: dict[str, object]) -> None:
    thread_id = cl.context.session.thread_id
    before = ASSISTANT.choice(thread_id)
    try:
        choice = await asyncio.to_thread(ASSISTANT.choose, thread_id, values)
    except UserFacingError as exc:
        await _send_settings(before)  # the panel shows what is still in force
        await cl.ErrorMessage(content=str(exc)).send()
        return
    await _send_settings(choice)
    text = describe_change(before, choice, sandbox_status=_sandbox_status(choice))
    await cl.Message(content=text).send()


async def _starter(action: cl.Action) -> None:
    text = str(action.payload.get("message", ""))
    session = cl.context.session
    user = getattr(session.user, "identifier", "You")
    await cl.Message(content=text, type="user_message", author=user).send()
    files: list[Path] = []
    if text == SAMPLE_PROMPT:
        folder = SETTINGS.data_dir / "tmp" / "samples" / uuid.uuid4().hex[:8]
        files.append(await asyncio.to_thread(write_sample, folder))
    await _reply(text, files)


for _label in STARTERS:
    cl.action_callback(_label)(_starter)
cl.action_callback(CHOICE_ACTION)(_starter)  # a reply button of a question (ask_user)


@cl.action_callback("usage")
async def _usage(action: cl.Action) -> None:
    del action
    report = await asyncio.to_thread(
        build_usage_report,
        ASSISTANT.db,
        ASSISTANT.spend.settings,
        wall_time=time.time(),
        thread_id=cl.context.session.thread_id,
        prompt_budget_tokens=SETTINGS.prompt_tokens,
    )
    choice = ASSISTANT.choice(cl.context.session.thread_id)
    text = (
        f"**Usage of this conversation** ({choice.provider}, {choice.model})\n\n"
        f"```\n{format_usage_report(report)}\n```\n\nSandbox: {_sandbox_status(choice)}"
    )
    await cl.Message(content=text).send()


@cl.on_message
async def _message(message: cl.Message) -> None:
    files = [Path(e.path) for e in message.elements or [] if e.path]
    names = [e.name for e in message.elements or [] if e.path]
    await _reply(message.content, files, names)


async def _reply(
    text: str, files: list[Path], names: list[str] | None = None, *, regenerate: bool = False
) -> None:
    """Attach the files, run one assistant turn (or answer the last one again) and render it."""
    thread_id = cl.context.session.thread_id
    offered = cl.user_session.get(REGENERATE_ACTION)
    if offered is not None:  # only the newest reply can be answered again
        cl.user_session.set(REGENERATE_ACTION, None)
        await offered.remove()
    try:
        attachments = []
        for index, path in enumerate(files):
            name = names[index] if names else path.name
            attachments.append(
                await asyncio.to_thread(ASSISTANT.attach_file, thread_id, path, name=name)
            )
        renderer = TurnRenderer(SETTINGS.data_dir)
        before = ASSISTANT.choice(thread_id)
        turn = (
            ASSISTANT.regenerate(thread_id, approver=ChainlitApprover())
            if regenerate
            else ASSISTANT.run_turn(
                thread_id, text, attachments=attachments, approver=ChainlitApprover()
            )
        )
        try:
            async for event in turn:
                await renderer.render(event)
        finally:  # a stop or an error midway: live messages say where they stopped
            await renderer.close()
        if ASSISTANT.choice(thread_id).provider != "offline":  # the rules answer the same again
            cl.user_session.set(REGENERATE_ACTION, await renderer.offer_regenerate())
        if ASSISTANT.choice(thread_id) != before:  # "allow code for this conversation"
            await _send_settings(ASSISTANT.choice(thread_id))
    except UserFacingError as exc:
        await cl.ErrorMessage(content=str(exc)).send()
    except asyncio.CancelledError:
        raise
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("reply_failed reference=%s", reference)
        await cl.ErrorMessage(
            content=f"Sorry, something went wrong on our side (reference {reference})."
        ).send()


@cl.action_callback(REGENERATE_ACTION)
async def _regenerate(action: cl.Action) -> None:
    """Answer the last message again from the model (the response cache is bypassed)."""
    cl.user_session.set(REGENERATE_ACTION, None)
    await action.remove()
    replaced = str(action.payload.get("message_id") or "")
    if replaced:  # the answer being replaced leaves the chat, as it left the history
        await cl.Message(content="", id=replaced).remove()
    await _reply("", [], regenerate=True)


@cl.on_chat_resume
async def _resume(thread: cl.types.ThreadDict) -> None:
    log.info("thread_resumed steps=%d", len(thread.get("steps") or []))
    await _send_settings(await asyncio.to_thread(ASSISTANT.choice, thread["id"]))
    interrupted = await asyncio.to_thread(ASSISTANT.take_interrupted_notice, thread["id"])
    if interrupted is not None:
        rerun = cl.Action(name="rerun", payload={"run_id": interrupted.run_id}, label="Run again")
        notice = cl.Message(content=interrupted.message, actions=[rerun])
        await notice.send()
        # Chainlit re-sends the stored history after this hook, replacing what the hook showed
        # (Chainlit issue #2611): add the notice to the history it re-sends.
        thread["steps"].append(notice.to_dict())


@cl.action_callback("rerun")
async def _rerun(action: cl.Action) -> None:
    thread_id = cl.context.session.thread_id
    try:
        text = await asyncio.to_thread(
            ASSISTANT.prepare_rerun, thread_id, str(action.payload.get("run_id", ""))
        )
    except UserFacingError as exc:
        await cl.ErrorMessage(content=str(exc)).send()
        return
    await action.remove()
    user = getattr(cl.context.session.user, "identifier", "You")
    await cl.Message(content=text, type="user_message", author=user).send()
    await _reply(text, [])


@cl.on_stop
async def _stop() -> None:
    thread_id = cl.context.session.thread_id
    await ASSISTANT.stop(thread_id)
    run = await asyncio.to_thread(ASSISTANT.runs.latest, thread_id)
    if run is not None and run.status in ("running", "stopped"):
        kept = sum(1 for row in run.leaderboard if row.get("status") == "ok")
        await cl.Message(
            content=f"Stopped. {kept} finished candidate(s) are kept in the leaderboard."
        ).send()
