"""What one conversation chose in the settings panel: provider, model, sandbox, budget, code approval.

A :class:`ThreadChoice` starts as the process defaults (from
:class:`~assistant.settings.Settings`), is changed by :func:`choice_from_panel`
when the person submits the panel, and is stored in the thread's metadata in
``mlchat.db`` under :data:`METADATA_KEY`, so a resumed conversation (also after
a restart) keeps it. A choice that cannot work raises
:class:`~tools.errors.UserFacingError` with a sentence for the person.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.approval import POLICIES, ApprovalPolicy
from assistant.providers.base import OFFLINE_MODEL
from assistant.providers.registry import is_usable
from assistant.settings import ProviderName, SandboxName, Settings
from assistant.store import Database, thread_metadata, update_thread_metadata
from tools.errors import UserFacingError

METADATA_KEY = "chat_settings"
"""Key of the choice in the thread's metadata (``threads.metadata`` of ``mlchat.db``)."""

PROVIDER_LABELS: dict[ProviderName, str] = {
    "openai": "OpenAI (or OpenAI-compatible)",
    "anthropic": "Anthropic",
    "gemini": "Gemini",
    "local": "Local server (OpenAI-compatible)",
    "offline": "Offline (built-in rules, no key)",
}
SANDBOX_LABELS: dict[SandboxName, str] = {"local": "Local kernel", "e2b": "E2B"}
MIN_BUDGET_S = 5
MAX_BUDGET_S = 1800


@dataclass(frozen=True, slots=True)
class ThreadChoice:
    """The provider, model, sandbox, training budget and code approval of a conversation."""

    provider: ProviderName
    model: str
    sandbox: SandboxName
    budget_s: int
    code_approval: ApprovalPolicy = "ask"
    """Whether code a language model writes needs the user's approval (``assistant/approval.py``)."""

    def to_dict(self) -> dict[str, Any]:
        """The choice as JSON values (stored in the thread's metadata)."""
        return dataclasses.asdict(self)


def usable_providers(settings: Settings) -> tuple[ProviderName, ...]:
    """Providers the panel offers: those with a key (or a local base URL), then offline."""
    names: tuple[ProviderName, ...] = ("openai", "anthropic", "gemini", "local")
    usable = [p for p in names if is_usable(settings, p)]
    return (*usable, "offline")


def usable_sandboxes(settings: Settings) -> tuple[SandboxName, ...]:
    """Sandboxes the panel offers: local always, E2B when ``E2B_API_KEY`` is set."""
    return ("local", "e2b") if settings.e2b_api_key else ("local",)


def model_for(settings: Settings, provider: ProviderName) -> str:
    """The model a provider gets when none is typed: ``MLCHAT_MODEL`` for the configured one."""
    if provider == "offline":
        return OFFLINE_MODEL
    configured = settings.provider or next(
        (p for p in usable_providers(settings) if p != "offline"), None
    )
    if settings.model and provider == configured:
        return settings.model
    return settings.default_model(provider)


def default_choice(settings: Settings, *, provider: ProviderName, model: str) -> ThreadChoice:
    """The choice of a conversation that never touched the panel."""
    return ThreadChoice(
        provider, model, settings.sandbox, settings.budget_s, settings.code_approval
    )


def choice_from_panel(
    values: Mapping[str, object], *, current: ThreadChoice, settings: Settings
) -> ThreadChoice:
    """Map the panel's values (``provider``, ``model``, ``sandbox``, ``budget_s``,
    ``code_approval``) to a choice.

    A missing value keeps the current one. An empty model, or the previous
    provider's model left in the box after switching provider, means the new
    provider's default model. Raises :class:`UserFacingError` for a provider
    without a key, E2B without ``E2B_API_KEY``, or a budget that is not a number.
    """
    provider = str(values.get("provider") or current.provider).strip().lower()
    if provider not in PROVIDER_LABELS:
        raise UserFacingError(
            f"“{provider}” is not a provider I know; pick one of {', '.join(PROVIDER_LABELS)}."
        )
    if provider not in usable_providers(settings):
        raise UserFacingError(
            f"{PROVIDER_LABELS[provider]} cannot be used: {provider.upper()}_API_KEY is not set. "  # type: ignore[index]
            "Add it to the environment or .env and restart; this conversation keeps "
            f"{PROVIDER_LABELS[current.provider]}."
        )
    model = str(values.get("model") or "").strip()
    if provider == "offline":
        model = OFFLINE_MODEL
    elif not model or (provider != current.provider and model == current.model):
        model = model_for(settings, provider)  # type: ignore[arg-type]
    sandbox = str(values.get("sandbox") or current.sandbox).strip().lower()
    if sandbox not in SANDBOX_LABELS:
        raise UserFacingError(f"“{sandbox}” is not a sandbox I know; pick local or e2b.")
    if sandbox not in usable_sandboxes(settings):
        raise UserFacingError(
            "The E2B sandbox needs E2B_API_KEY, which is not set. Add it to the environment or "
            "`.env` and restart; this conversation keeps the local sandbox."
        )
    raw_budget = values.get("budget_s", current.budget_s)
    try:
        budget = int(float(raw_budget))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        message = f"The time budget must be a number of seconds, not “{raw_budget}”."
        raise UserFacingError(message) from None
    budget = min(MAX_BUDGET_S, max(MIN_BUDGET_S, budget))
    approval = str(values.get("code_approval") or current.code_approval).strip().lower()
    if approval not in POLICIES:
        raise UserFacingError(
            f"“{approval}” is not a code approval setting; pick one of {', '.join(POLICIES)}."
        )
    return ThreadChoice(provider, model, sandbox, budget, approval)  # type: ignore[arg-type]


def load_choice(db: Database, thread_id: str, *, default: ThreadChoice) -> ThreadChoice:
    """The conversation's stored choice; ``default`` where nothing (valid) is stored."""
    stored = thread_metadata(db, thread_id).get(METADATA_KEY)
    if not isinstance(stored, dict):
        return default
    fields = {f.name for f in dataclasses.fields(ThreadChoice)}
    merged = {**default.to_dict(), **{k: v for k, v in stored.items() if k in fields}}
    try:
        return ThreadChoice(
            provider=merged["provider"],
            model=str(merged["model"]),
            sandbox=merged["sandbox"],
            budget_s=int(merged["budget_s"]),
            code_approval=merged["code_approval"]
            if merged["code_approval"] in POLICIES
            else default.code_approval,
        )
    except (TypeError, ValueError):
        return default


def save_choice(db: Database, thread_id: str, choice: ThreadChoice) -> None:
    """Store the choice in the thread's metadata (the thread must exist)."""
    update_thread_metadata(db, thread_id, {METADATA_KEY: choice.to_dict()})
