"""The chat settings panel: widgets for a conversation's choice, and what a change says.

The panel offers the providers that have a key (plus offline), a free-text
model (empty means the provider's default), the sandboxes that can run (local,
and E2B when its key is set) and the training budget. ``chat_app.py`` sends
:func:`settings_widgets` and hands the submitted values to
:meth:`~assistant.session.Assistant.choose`.
"""

from __future__ import annotations

from chainlit.input_widget import InputWidget, Select, Slider, TextInput

from assistant.approval import POLICY_LABELS
from assistant.settings import Settings
from assistant.thread_settings import (
    MAX_BUDGET_S,
    MIN_BUDGET_S,
    PROVIDER_LABELS,
    SANDBOX_LABELS,
    ThreadChoice,
    usable_providers,
    usable_sandboxes,
)


def settings_widgets(choice: ThreadChoice, settings: Settings) -> list[InputWidget]:
    """The panel's widgets, showing ``choice``."""
    return [
        Select(
            id="provider",
            label="Provider",
            items={PROVIDER_LABELS[p]: p for p in usable_providers(settings)},
            initial_value=choice.provider,
            description="Providers with a key set; offline needs none.",
        ),
        TextInput(
            id="model",
            label="Model",
            initial=choice.model,
            placeholder="empty: the provider's default",
            description="Applies from your next message.",
        ),
        Select(
            id="sandbox",
            label="Sandbox for code",
            items={SANDBOX_LABELS[s]: s for s in usable_sandboxes(settings)},
            initial_value=choice.sandbox,
            description="E2B appears when E2B_API_KEY is set.",
        ),
        Slider(
            id="budget_s",
            label="Training time budget (seconds)",
            initial=choice.budget_s,
            min=MIN_BUDGET_S,
            max=MAX_BUDGET_S,
            step=5,
        ),
        Select(
            id="code_approval",
            label="Code the model writes",
            items={label: policy for policy, label in POLICY_LABELS.items()},
            initial_value=choice.code_approval,
            description="Ask shows the code with Run and Skip before it runs in the sandbox.",
        ),
    ]


def describe_change(before: ThreadChoice, after: ThreadChoice, *, sandbox_status: str) -> str:
    """The chat line confirming a settings change (``sandbox_status`` is the confinement line)."""
    model = "the built-in offline rules" if after.provider == "offline" else after.model
    lines = [
        "From your next message this conversation uses "
        f"**{PROVIDER_LABELS[after.provider]}** ({model}), the **{SANDBOX_LABELS[after.sandbox]}** "
        f"sandbox and a training budget of {after.budget_s} s.",
        f"Sandbox: {sandbox_status}",
    ]
    if before.code_approval != after.code_approval:
        lines.append(f"Code the model writes: {POLICY_LABELS[after.code_approval].lower()}.")
    if before.sandbox != after.sandbox:
        lines.append("Variables of the previous sandbox are not carried over; files are kept.")
    return "\n\n".join(lines)
