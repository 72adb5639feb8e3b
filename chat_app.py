"""The Chainlit entry point: ``chainlit run chat_app.py`` (or ``mlchat serve``).

Thin on purpose: it maps Chainlit events to mlchat and back. Until the
assistant loop is wired in, ``on_message`` stores attachments in the
conversation's workspace and acknowledges them.

Login: password auth with the local account described in ``assistant/serve.py``
(user ``mlchat``; password from ``MLCHAT_PASSWORD`` or generated into
``<data>/auth/password``). History, resume and feedback persist through
``assistant/chainlit_layer.py``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import chainlit as cl

from assistant.chainlit_layer import (
    build_data_layer,
    mount_file_route,
    save_attachment,
    use_upload_folder,
)
from assistant.serve import prepare_data_dir
from assistant.settings import Settings
from tools.errors import UserFacingError

log = logging.getLogger(__name__)

SETTINGS = Settings.from_env()
LOGIN = prepare_data_dir(SETTINGS)
DATA_LAYER = build_data_layer(SETTINGS.data_dir, database_url=SETTINGS.database_url)
mount_file_route(DATA_LAYER)
use_upload_folder(SETTINGS.data_dir / "tmp" / "uploads")
log.info(
    "chat_app_ready data_dir=%s login_user=%s password_file=%s",
    SETTINGS.data_dir,
    LOGIN.username,
    LOGIN.password_file or "MLCHAT_PASSWORD",
)

STARTERS: dict[str, str] = {
    "Train on a sample dataset": "Train a model on the sample breast cancer dataset.",
    "What can you do?": "What can you do?",
}


def _active_provider(settings: Settings) -> str:
    if settings.provider:
        return settings.provider
    for name in ("openai", "anthropic", "gemini"):
        if settings.key_for(name):  # type: ignore[arg-type]
            return name
    return "offline"


def _size(n_bytes: int) -> str:
    if n_bytes < 1024:
        return f"{n_bytes} B"
    if n_bytes < 1024 * 1024:
        return f"{n_bytes / 1024:.0f} KB"
    return f"{n_bytes / (1024 * 1024):.1f} MB"


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
    provider = _active_provider(SETTINGS)
    model = SETTINGS.model or SETTINGS.default_model(provider)  # type: ignore[arg-type]
    mode = "the built-in offline assistant" if provider == "offline" else f"{provider} ({model})"
    text = (
        f"Hi! I train machine-learning models on the files you attach. "
        f"Running with **{mode}**; code runs in the **{SETTINGS.sandbox}** sandbox.\n\n"
        "Attach a CSV, TSV, Parquet, Excel or JSON file and say, for example, "
        "“train a model on this file to predict churn”."
    )
    actions = [
        cl.Action(name=label, payload={"message": message}, label=label)
        for label, message in STARTERS.items()
    ]
    await cl.Message(content=text, actions=actions).send()


async def _starter(action: cl.Action) -> None:
    # Chainlit names a thread started by an action after the action's name,
    # which is why each starter's name is its label.
    text = str(action.payload.get("message", ""))
    user = getattr(cl.context.session.user, "identifier", "You")
    await cl.Message(content=text, type="user_message", author=user).send()
    await _reply(text, [])


for _label in STARTERS:
    cl.action_callback(_label)(_starter)


@cl.on_message
async def _message(message: cl.Message) -> None:
    await _reply(message.content, message.elements or [])


async def _reply(text: str, elements: list[cl.Element]) -> None:
    """Acknowledge attachments and echo the text (placeholder until the assistant lands)."""
    try:
        workspace = SETTINGS.workspace_for(cl.context.session.thread_id)
        lines = []
        for element in elements:
            if not element.path:
                continue
            saved = await asyncio.to_thread(
                save_attachment, Path(element.path), element.name, workspace
            )
            lines.append(f"Received {saved.name} ({_size(saved.stat().st_size)}).")
        if text.strip():
            lines.append(f"You said: {text.strip()}")
        lines.append("The assistant is not connected yet; training arrives with it.")
        await cl.Message(content="\n\n".join(lines)).send()
    except UserFacingError as exc:
        await cl.Message(content=str(exc)).send()
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("reply_failed reference=%s", reference)
        await cl.Message(
            content=f"Sorry, something went wrong on our side (reference {reference})."
        ).send()


@cl.on_chat_resume
async def _resume(thread: cl.types.ThreadDict) -> None:
    log.info("thread_resumed steps=%d", len(thread.get("steps") or []))


@cl.on_stop
async def _stop() -> None:
    # The assistant will cancel its training worker and sandbox kernel here.
    log.info("stop_requested")
