"""Cost estimates for recorded LLM calls, from genai-prices' bundled price table.

genai-prices ships a dated snapshot of provider prices inside the wheel and
only fetches newer prices when ``genai_prices.UpdatePrices`` is started; mlchat
never starts it, so prices change only when the package is upgraded and no
request leaves the machine. The raw token counts are stored next to the cost
in ``llm_calls``, so costs can be recomputed after an upgrade.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from genai_prices import Usage, calc_price

log = logging.getLogger(__name__)

_PRICE_PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}


def estimate_cost_usd(
    provider: str,
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float | None:
    """Estimated price of one call in US dollars, or ``None`` when the model has no known price.

    ``input_tokens`` is the total prompt size, cached tokens included (as the
    providers report it); ``cached_tokens`` of it are billed at the cache-read rate
    and ``cache_write_tokens`` at the cache-write rate.
    The offline provider and the ``local`` server are free (a priced local
    server is costed by the router from ``MLCHAT_LOCAL_PRICE_*``). Models an
    ``openai`` route serves from another base URL are usually unknown and get ``None``.
    """
    if provider in ("offline", "local"):
        return 0.0
    provider_id = _PRICE_PROVIDER_IDS.get(provider)
    if provider_id is None or not _has_price(provider_id, model):
        return None
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached_tokens,
        cache_write_tokens=cache_write_tokens,
    )
    return float(calc_price(usage, model, provider_id=provider_id).total_price)


@lru_cache(maxsize=256)
def _has_price(provider_id: str, model: str) -> bool:
    try:
        calc_price(Usage(input_tokens=1, output_tokens=1), model, provider_id=provider_id)
    except LookupError:
        log.info("price_unknown provider=%s model=%s", provider_id, model)
        return False
    return True
