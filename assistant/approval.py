"""Asking the user before code a language model wrote runs in the sandbox.

A conversation's :data:`ApprovalPolicy` says what happens when the model
calls ``run_code``:

- ``"ask"`` (the default, ``MLCHAT_CODE_APPROVAL``): the front end's
  :class:`Approver` shows the code and the user picks Run, Skip, or "allow
  for this conversation" (which turns the conversation's policy to
  ``"conversation"``);
- ``"conversation"``: allowed for this conversation (chosen in the panel or
  by answering "allow");
- ``"always"``: never ask (set for every conversation by
  ``MLCHAT_CODE_APPROVAL=always``).

Code the user wrote runs without asking: the offline assistant turns a
fenced block of the user's message into a ``run_code`` call, and that call is
trusted only when the offline assistant itself issued it *and* its code is
byte-identical to a fenced block of the latest user message (a model's claim
that "the user wrote this" counts for nothing). A skipped run goes back to
the model as the non-error result :data:`DECLINED`; an unanswered question
times out as a skip after :data:`APPROVAL_TIMEOUT_S`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from assistant.providers.base import ToolCall

ApprovalPolicy = Literal["ask", "conversation", "always"]
POLICIES: tuple[ApprovalPolicy, ...] = get_args(ApprovalPolicy)
POLICY_LABELS: dict[ApprovalPolicy, str] = {
    "ask": "Ask before running code",
    "conversation": "Allow for this conversation",
    "always": "Always allow",
}
Decision = Literal["run", "skip", "allow_conversation"]
"""What the user answered: run once, skip, or run and stop asking in this conversation."""

DECLINED = "The user declined to run this code."
"""The tool result the model gets for a skipped run (not an error: it should not retry)."""

APPROVAL_TIMEOUT_S = 600.0
"""An unanswered question counts as Skip after this long."""

CODE_TOOLS = frozenset({"run_code"})
"""Tools whose calls run code a model wrote."""

_FENCED = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S | re.I)


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """Code a model wants to run, as shown to the user."""

    thread_id: str
    call_id: str
    code: str


class Approver(Protocol):
    """A front end's way of asking the user (Chainlit actions, a terminal prompt)."""

    async def decide(self, request: CodeRequest) -> Decision:
        """Show ``request.code`` and return the user's answer."""
        ...


def fenced_blocks(text: str) -> list[str]:
    """The code of every fenced ```python (or bare ```) block in ``text``, in order."""
    return [match.group(1) for match in _FENCED.finditer(text)]


def parse_policy(value: str) -> ApprovalPolicy:
    """``"ask"``, ``"conversation"`` or ``"always"``; raises ``ValueError`` otherwise."""
    policy = value.strip().lower()
    if policy not in POLICIES:
        raise ValueError(
            f"MLCHAT_CODE_APPROVAL must be one of {', '.join(POLICIES)}, not {value!r}"
        )
    return policy  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class CodeApproval:
    """The conversation-level rules the agent consults before a code tool runs.

    Args:
        policy_of: The conversation's current policy.
        allow_for_conversation: Store ``"conversation"`` as the conversation's policy.
        is_offline_call: Whether the offline assistant itself issued this exact call.
        timeout_s: How long to wait for an answer before skipping.
    """

    policy_of: Callable[[str], ApprovalPolicy] = lambda thread_id: "ask"
    allow_for_conversation: Callable[[str], None] = lambda thread_id: None
    is_offline_call: Callable[[ToolCall], bool] = lambda call: False
    timeout_s: float = APPROVAL_TIMEOUT_S

    def needs_asking(self, thread_id: str, call: ToolCall, code: str, user_text: str) -> bool:
        """Whether the user must be asked before ``call`` (running ``code``) runs."""
        if self.policy_of(thread_id) != "ask":
            return False
        is_users_code = code in fenced_blocks(user_text)
        return not (is_users_code and self.is_offline_call(call))
