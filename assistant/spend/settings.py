"""Settings of the spend and rate controls, read from the environment.

Kept apart from :class:`~assistant.settings.Settings` until it is folded in;
every knob has a default that is safe for a first-tier API account, and ``0``
turns a limit or a cap off. ``docs/spend.md`` lists them for users.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_RPM: dict[str, int] = {"openai": 500, "anthropic": 50, "gemini": 10}
"""Requests per minute per provider: the lowest paid tier of OpenAI and Anthropic, Gemini's free tier."""

DEFAULT_TPM: dict[str, int] = {"openai": 200_000, "anthropic": 30_000, "gemini": 250_000}
"""Tokens per minute per provider, from the same tiers as :data:`DEFAULT_RPM`."""

_PROVIDERS = ("openai", "anthropic", "gemini")
_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class SpendSettings:
    """Rate limits, spend caps and anomaly thresholds. Build it with :meth:`from_env`."""

    rpm: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_RPM))
    """Requests per minute per provider; a provider missing here, or ``0``, is not limited."""
    tpm: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TPM))
    """Tokens per minute per provider (prompt estimate before the call, output after it)."""
    burst_s: float = 10.0
    """The request bucket holds this many seconds' worth of requests (at least one)."""
    tighten_factor: float = 0.5
    """A 429 multiplies the provider's rates by this (again for each further 429)."""
    tighten_s: float = 60.0
    """How long rates stay tightened after the last 429."""
    cap_thread_usd: float = 2.0
    """Estimated spend allowed per conversation; ``0`` for no cap."""
    cap_day_usd: float = 10.0
    """Estimated spend allowed per UTC day, all conversations together; ``0`` for no cap."""
    warn_fraction: float = 0.8
    """Share of a cap at which the chat warns, once."""
    anomaly_factor: float = 5.0
    """A turn costing more than this times the conversation's running median is flagged."""
    anomaly_min_turns: int = 3
    """Earlier turns a conversation needs before its median is trusted."""
    error_rate_threshold: float = 0.5
    """A provider whose share of failed calls in the last ``error_window`` calls reaches this is flagged."""
    error_window: int = 20
    """How many recent calls per provider the error rate is computed over."""
    error_min_calls: int = 5
    """Fewer recent calls than this never raise the error-rate flag."""
    cost_line: bool = True
    """Show a one-line cost figure after each assistant turn on a paid provider."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = None
    ) -> SpendSettings:
        """Read the settings from ``environ`` (default ``os.environ``) over a ``.env`` file.

        As in :meth:`~assistant.settings.Settings.from_env`, the environment wins
        over the ``.env`` file, which is looked up in the current directory
        unless ``env_file`` is given.

        Per provider ``MLCHAT_RPM_<PROVIDER>`` / ``MLCHAT_TPM_<PROVIDER>`` (for
        example ``MLCHAT_RPM_OPENAI``); ``MLCHAT_SPEND_CAP_THREAD_USD``,
        ``MLCHAT_SPEND_CAP_DAY_USD``, ``MLCHAT_SPEND_WARN_FRACTION``,
        ``MLCHAT_ANOMALY_FACTOR``, ``MLCHAT_ERROR_RATE_THRESHOLD``,
        ``MLCHAT_ERROR_RATE_WINDOW``, ``MLCHAT_RATE_BURST_S``,
        ``MLCHAT_COST_LINE`` (``on`` / ``off``). A malformed value raises
        ``ValueError`` naming the variable.
        """
        source: dict[str, str] = {}
        dotenv_path = env_file or Path.cwd() / ".env"
        if dotenv_path.is_file():
            source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        source.update(os.environ if environ is None else environ)
        defaults = cls()

        def raw(name: str) -> str | None:
            value = source.get(name, "").strip()
            return value or None

        def number(name: str, default: float, *, minimum: float = 0.0) -> float:
            value = raw(name)
            if value is None:
                return default
            try:
                parsed = float(value)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {value!r}") from None
            if parsed < minimum:
                raise ValueError(f"{name} must be at least {minimum:g}, not {value!r}")
            return parsed

        def whole(name: str, default: int, *, minimum: int = 0) -> int:
            return int(number(name, default, minimum=minimum))

        def flag(name: str, default: bool) -> bool:
            value = raw(name)
            if value is None:
                return default
            if value.lower() in _ON:
                return True
            if value.lower() in _OFF:
                return False
            raise ValueError(f"{name} must be on or off, not {value!r}")

        rpm = {p: whole(f"MLCHAT_RPM_{p.upper()}", DEFAULT_RPM[p]) for p in _PROVIDERS}
        tpm = {p: whole(f"MLCHAT_TPM_{p.upper()}", DEFAULT_TPM[p]) for p in _PROVIDERS}
        warn = number("MLCHAT_SPEND_WARN_FRACTION", defaults.warn_fraction)
        if not 0 < warn <= 1:
            raise ValueError(f"MLCHAT_SPEND_WARN_FRACTION must be in (0, 1], not {warn:g}")
        threshold = number("MLCHAT_ERROR_RATE_THRESHOLD", defaults.error_rate_threshold)
        if not 0 < threshold <= 1:
            raise ValueError(f"MLCHAT_ERROR_RATE_THRESHOLD must be in (0, 1], not {threshold:g}")
        return cls(
            rpm=rpm,
            tpm=tpm,
            burst_s=number("MLCHAT_RATE_BURST_S", defaults.burst_s, minimum=0.001),
            cap_thread_usd=number("MLCHAT_SPEND_CAP_THREAD_USD", defaults.cap_thread_usd),
            cap_day_usd=number("MLCHAT_SPEND_CAP_DAY_USD", defaults.cap_day_usd),
            warn_fraction=warn,
            anomaly_factor=number("MLCHAT_ANOMALY_FACTOR", defaults.anomaly_factor, minimum=1.0),
            error_rate_threshold=threshold,
            error_window=whole("MLCHAT_ERROR_RATE_WINDOW", defaults.error_window, minimum=1),
            cost_line=flag("MLCHAT_COST_LINE", defaults.cost_line),
        )
