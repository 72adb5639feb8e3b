"""Spend and rate controls for LLM calls: rate limits, spend caps, anomaly flags.

Build one :class:`SpendGuard` per process from :class:`SpendSettings` and pass
it to ``build_router(..., limiter=guard)``; the agent sets
:func:`spend_scope` per turn and shows :meth:`SpendGuard.finish_turn`'s
notices. ``mlchat usage`` (``assistant/cli/usage.py``) reads the same rows.
"""

from assistant.settings import DEFAULT_RPM, DEFAULT_TPM, SpendSettings
from assistant.spend.anomalies import (
    Anomaly,
    ErrorRateMonitor,
    provider_error_rates,
    turn_spend_spikes,
)
from assistant.spend.caps import CAP_SETTING, CapStatus, SpendCapReached, day_start
from assistant.spend.guard import FREE_PROVIDERS, SpendGuard, format_usd
from assistant.spend.rate import RateLimiter, RateWait, TokenBucket
from assistant.spend.report import UsageReport, build_usage_report, format_usage_report
from assistant.spend.scope import SpendScope, current_scope, spend_scope

__all__ = [
    "CAP_SETTING",
    "DEFAULT_RPM",
    "DEFAULT_TPM",
    "FREE_PROVIDERS",
    "Anomaly",
    "CapStatus",
    "ErrorRateMonitor",
    "RateLimiter",
    "RateWait",
    "SpendCapReached",
    "SpendGuard",
    "SpendScope",
    "SpendSettings",
    "TokenBucket",
    "UsageReport",
    "build_usage_report",
    "current_scope",
    "day_start",
    "format_usage_report",
    "format_usd",
    "provider_error_rates",
    "spend_scope",
    "turn_spend_spikes",
]
