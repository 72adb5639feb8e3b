"""``mlchat train --plan WORDS``: the configured language model turns the words into plan fields.

The call goes through the same model-call stack as the chat (the router with
its rate limits, spend caps, retries and fallbacks; usage recorded in the data
folder's database) and uses the schema-constrained call of
:mod:`assistant.plan_request`. Without a language model configured it refuses
and names the flags that say the same thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from assistant.plan_request import PlanRequest, plan_from_words
from assistant.providers.base import ChatSettings
from assistant.providers.registry import build_router
from assistant.providers.usage import CallContext
from assistant.settings import Settings
from assistant.spend import SpendGuard
from assistant.store import Database
from tools.errors import UserFacingError

NO_MODEL = (
    "--plan needs a language model: set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or "
    "MLCHAT_LOCAL_BASE_URL. Without one, say the same with --target, --metric, --budget "
    "and --models."
)


def plan_from_cli_words(words: str, columns: Sequence[str], settings: Settings) -> PlanRequest:
    """The plan fields ``words`` ask for on a table with ``columns`` (blocking)."""
    return asyncio.run(_ask(words, columns, settings))


async def _ask(words: str, columns: Sequence[str], settings: Settings) -> PlanRequest:
    probe = build_router(settings)  # before the data folder is touched
    await probe.router.aclose()
    if probe.is_offline:
        raise UserFacingError(NO_MODEL)
    db = Database(settings.store_location)
    setup = build_router(settings, db=db, limiter=SpendGuard(settings.spend, db=db))
    try:
        return await plan_from_words(
            setup.router,
            words,
            columns=columns,
            settings=ChatSettings(
                setup.router.primary.model, max_tokens=settings.max_output_tokens
            ),
            context=CallContext(fresh=True),
        )
    finally:
        await setup.router.aclose()
