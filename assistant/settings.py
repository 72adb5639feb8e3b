"""Configuration from the environment and an optional ``.env`` file.

Every knob of mlchat is read here, once, into a frozen :class:`Settings`.
Secrets are kept out of ``repr`` so that logging a settings object never
prints a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from assistant.approval import ApprovalPolicy, parse_policy

ProviderName = Literal["openai", "anthropic", "gemini", "local", "offline"]
SandboxName = Literal["local", "e2b"]

DEFAULT_RPM: dict[str, int] = {"openai": 500, "anthropic": 50, "gemini": 10}
"""Requests per minute per provider: the lowest paid tier of OpenAI and Anthropic, Gemini's free tier."""

DEFAULT_TPM: dict[str, int] = {"openai": 200_000, "anthropic": 30_000, "gemini": 250_000}
"""Tokens per minute per provider, from the same tiers as :data:`DEFAULT_RPM`."""

_PAID = ("openai", "anthropic", "gemini")
_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


_DEFAULT_MODELS: dict[str, str] = {
    # Each provider's current inexpensive tool-capable model (checked December 2026, all
    # priced by the pinned genai-prices): gpt-6-luna is OpenAI's named replacement for
    # gpt-4o-mini (shut down 2027-01-14); claude-haiku-5-5 is the newest Haiku;
    # gemini-3.5-flash-lite is Google's named replacement for gemini-2.5-flash (retired).
    "openai": "gpt-6-luna",
    "anthropic": "claude-haiku-5-5",
    "gemini": "gemini-3.5-flash-lite",
    "local": "auto",
    "offline": "rules",
}


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """Where training jobs run (``Settings.cluster``): the local worker pool, or a Dask cluster."""

    scheduler: str | None = None
    """Dask scheduler address (``tcp://host:port``); ``None``: local worker processes."""
    job_cores: int = 1
    """Cores each job reserves through the Dask worker resource ``cores``."""
    wait_for_worker_s: float = 120.0
    """How long a job may wait for a Dask worker with free cores before it fails."""
    dask_above_mb: int = 1024
    """Tables whose file is larger than this are read and trained through Dask DataFrames."""
    paused_limit_s: float = 60.0
    """How long a job spread over the cluster may wait on a worker paused for lack of memory."""


@dataclass(frozen=True, slots=True)
class SpendSettings:
    """Rate limits, spend caps and anomaly thresholds (``Settings.spend``)."""

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


def default_data_dir() -> Path:
    """Per-user data folder: ``$XDG_DATA_HOME/mlchat`` or ``~/.local/share/mlchat``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mlchat"


@dataclass(frozen=True, slots=True)
class Settings:
    """All of mlchat's configuration. Build it with :meth:`Settings.from_env`."""

    data_dir: Path = field(default_factory=default_data_dir)
    provider: ProviderName | None = None
    """Explicit provider; ``None`` means the first one with a key, else offline."""
    model: str | None = None
    small_model: str | None = None
    fallbacks: tuple[ProviderName, ...] = ()
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_api: Literal["responses", "chat"] = "responses"
    """OpenAI's API: the Responses API, or Chat Completions (the default with ``OPENAI_BASE_URL``,
    as OpenAI-compatible servers speak only that)."""
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str | None = None
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_base_url: str | None = None
    local_base_url: str | None = None
    """An OpenAI-compatible server (llama.cpp, Ollama, vLLM, LM Studio), ``.../v1``."""
    local_model: str | None = None
    """The local server's model; ``None``: the first one its ``/v1/models`` lists."""
    local_api_key: str | None = field(default=None, repr=False)
    local_price_per_mtok: tuple[float, float] | None = None
    """USD per million (input, output) tokens of the local server; ``None``: free."""
    sandbox: SandboxName = "local"
    e2b_api_key: str | None = field(default=None, repr=False)
    sandbox_memory_mb: int = 4096
    sandbox_cpu_s: int = 600
    sandbox_timeout_s: float = 120.0
    """Wall-clock ceiling of every code run; a model may ask for less, never more."""
    sandbox_tmpfs_mb: int = 512
    """Size of each private tmpfs (/tmp, /dev/shm) of a local kernel."""
    sandbox_disk_mb: int = 2048
    """Disk quota of a local kernel's scratch folder (when it can be enforced)."""
    sandbox_idle_s: float = 1800.0
    sandbox_max_kernels: int = 8
    budget_s: int = 60
    max_training_jobs: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    """Training/tuning worker processes at once; more requests wait their turn."""
    max_upload_mb: int = 1024
    turn_deadline_s: float = 600.0
    max_tool_calls: int = 12
    prompt_tokens: int = 24_000
    """Token budget of each prompt (system, history, tool results); older turns are trimmed."""
    max_output_tokens: int | None = None
    """Output token limit of each reply; ``None``: the model's default (``providers/stops.py``)."""
    response_cache_rows: int = 1000
    """Most answers the response cache keeps (oldest dropped first); ``0`` turns it off."""
    response_cache_age_s: float = 7 * 24 * 3600.0
    """Cached answers older than this are neither replayed nor kept."""
    database_url: str | None = field(default=None, repr=False)
    """SQLAlchemy URL of the whole store (ours and Chainlit's tables); ``None`` means SQLite
    files in ``data_dir``. A ``sqlite:///`` URL moves only Chainlit's tables."""
    workspace_url: str | None = None
    """Where workspaces live: a folder or ``file://`` URL (a shared mount) used directly, or
    an fsspec URL (``s3://...``) mirrored before and after each turn; ``None``: the data folder."""
    sql_url: str | None = field(default=None, repr=False)
    """A database to read tables from ("train on the table orders"); its password is a secret."""
    sql_max_rows: int = 1_000_000
    """Most rows read from a database table or query (the rest is left out, and said so)."""
    tuning_storage: str | None = None
    """Optuna storage URL; ``None`` means the SQLite database in ``data_dir``."""
    log_model_data: bool = False
    login_attempts: int = 5
    """Failed logins a client address may make within ``login_window_s`` before a lockout."""
    login_window_s: float = 60.0
    """The failed-login window, and the first lockout's wait (doubling up to an hour)."""
    code_approval: ApprovalPolicy = "ask"
    """Default for code a language model wants to run: ask, allow per conversation, always."""
    spend: SpendSettings = field(default_factory=lambda: SpendSettings())
    """Rate limits, spend caps and anomaly thresholds (``docs/spend.md``)."""
    cluster: ClusterSettings = field(default_factory=lambda: ClusterSettings())
    """Where training jobs run (``docs/dask.md``)."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = None
    ) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) over a ``.env`` file.

        Values in the environment win over the ``.env`` file; the ``.env`` file is
        looked up in the current directory unless ``env_file`` is given. A
        malformed value raises ``ValueError`` naming the variable.
        """
        source: dict[str, str] = {}
        dotenv_path = env_file or Path.cwd() / ".env"
        if dotenv_path.is_file():
            source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        source.update(os.environ if environ is None else environ)
        env = _Reader(source)
        get = env.text

        e2b_key = get("E2B_API_KEY")
        sandbox = (get("MLCHAT_SANDBOX") or ("e2b" if e2b_key else "local")).lower()
        if sandbox not in ("local", "e2b"):
            raise ValueError(f"MLCHAT_SANDBOX must be 'local' or 'e2b', not {sandbox!r}")
        provider = get("MLCHAT_PROVIDER")
        fallbacks = tuple(
            p.strip().lower() for p in (get("MLCHAT_FALLBACKS") or "").split(",") if p.strip()
        )
        for name in (provider, *fallbacks):
            if name is not None and name.lower() not in _DEFAULT_MODELS:
                raise ValueError(
                    f"Unknown provider {name!r}: use one of {', '.join(_DEFAULT_MODELS)}"
                )
        return cls(
            data_dir=Path(get("MLCHAT_DATA_DIR") or default_data_dir()).expanduser(),
            provider=provider.lower() if provider else None,  # type: ignore[arg-type]
            model=get("MLCHAT_MODEL"),
            small_model=get("MLCHAT_SMALL_MODEL"),
            fallbacks=fallbacks,  # type: ignore[arg-type]
            openai_api_key=get("OPENAI_API_KEY"),
            openai_base_url=get("OPENAI_BASE_URL"),
            openai_api=_openai_api(get("MLCHAT_OPENAI_API"), get("OPENAI_BASE_URL")),
            anthropic_api_key=get("ANTHROPIC_API_KEY"),
            anthropic_base_url=get("ANTHROPIC_BASE_URL"),
            gemini_api_key=get("GEMINI_API_KEY") or get("GOOGLE_API_KEY"),
            gemini_base_url=get("GEMINI_BASE_URL"),
            local_base_url=get("MLCHAT_LOCAL_BASE_URL"),
            local_model=get("MLCHAT_LOCAL_MODEL"),
            local_api_key=get("MLCHAT_LOCAL_API_KEY"),
            local_price_per_mtok=_local_price(env),
            sandbox=sandbox,  # type: ignore[arg-type]
            e2b_api_key=e2b_key,
            sandbox_memory_mb=env.whole("MLCHAT_SANDBOX_MEMORY_MB", 4096),
            sandbox_cpu_s=env.whole("MLCHAT_SANDBOX_CPU_S", 600),
            sandbox_timeout_s=env.number("MLCHAT_SANDBOX_TIMEOUT_S", 120.0),
            sandbox_tmpfs_mb=env.whole("MLCHAT_SANDBOX_TMPFS_MB", 512),
            sandbox_disk_mb=env.whole("MLCHAT_SANDBOX_DISK_MB", 2048),
            sandbox_idle_s=env.number("MLCHAT_SANDBOX_IDLE_S", 1800.0),
            sandbox_max_kernels=env.whole("MLCHAT_SANDBOX_MAX_KERNELS", 8),
            budget_s=env.whole("MLCHAT_BUDGET_S", 60),
            max_training_jobs=max(1, env.whole("MLCHAT_MAX_TRAINING_JOBS", os.cpu_count() or 1)),
            max_upload_mb=env.whole("MLCHAT_MAX_UPLOAD_MB", 1024),
            turn_deadline_s=env.number("MLCHAT_TURN_DEADLINE_S", 600.0),
            max_tool_calls=env.whole("MLCHAT_MAX_TOOL_CALLS", 12),
            prompt_tokens=env.whole("MLCHAT_PROMPT_TOKENS", 24_000, minimum=1_000),
            max_output_tokens=_optional_whole(env, "MLCHAT_MAX_OUTPUT_TOKENS", minimum=16),
            response_cache_rows=env.whole("MLCHAT_RESPONSE_CACHE_ROWS", 1000, minimum=0),
            response_cache_age_s=env.number(
                "MLCHAT_RESPONSE_CACHE_AGE_S", 7 * 24 * 3600.0, minimum=0
            ),
            database_url=get("MLCHAT_DATABASE_URL"),
            workspace_url=get("MLCHAT_WORKSPACE_URL"),
            sql_url=get("MLCHAT_SQL_URL"),
            sql_max_rows=env.whole("MLCHAT_SQL_MAX_ROWS", 1_000_000, minimum=1),
            tuning_storage=get("MLCHAT_TUNING_STORAGE"),
            log_model_data=env.flag("MLCHAT_LOG_MODEL_DATA", False),
            login_attempts=env.whole("MLCHAT_LOGIN_ATTEMPTS", 5, minimum=1),
            login_window_s=env.number("MLCHAT_LOGIN_WINDOW_S", 60.0, minimum=1.0),
            code_approval=parse_policy(get("MLCHAT_CODE_APPROVAL") or "ask"),
            spend=_spend_from(env),
            cluster=_cluster_from(env),
        )

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields replaced (settings panel, tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value that is set, for redaction and leak tests."""
        keys = (
            self.openai_api_key,
            self.anthropic_api_key,
            self.gemini_api_key,
            self.local_api_key,
            self.e2b_api_key,
            *(_url_password(url) for url in (self.database_url, self.sql_url)),
        )
        return tuple(k for k in keys if k)

    def key_for(self, provider: ProviderName) -> str | None:
        """The API key configured for ``provider`` (``None`` for offline)."""
        return {
            "openai": self.openai_api_key,
            "anthropic": self.anthropic_api_key,
            "gemini": self.gemini_api_key,
            "local": self.local_api_key,
        }.get(provider)

    def default_model(self, provider: ProviderName) -> str:
        """The model used for ``provider`` when ``MLCHAT_MODEL`` is not set.

        For ``local`` that is ``MLCHAT_LOCAL_MODEL``, else ``"auto"``: the first
        model the server lists.
        """
        if provider == "local" and self.local_model:
            return self.local_model
        return _DEFAULT_MODELS[provider]

    @property
    def database_path(self) -> Path:
        """The SQLite database file inside the data folder."""
        return self.data_dir / "mlchat.db"

    @property
    def store_location(self) -> Path | str:
        """Where mlchat's own tables live: a PostgreSQL ``database_url``, else ``database_path``."""
        if self.database_url and self.database_url.startswith(("postgres://", "postgresql")):
            return self.database_url
        return self.database_path

    @property
    def has_store(self) -> bool:
        """Whether the store exists already (a PostgreSQL one always may)."""
        return not isinstance(self.store_location, Path) or self.database_path.is_file()

    @property
    def chat_files_dir(self) -> Path:
        """Where Chainlit's stored elements live: beside the workspaces on a shared mount (so
        every app instance serves them), else ``files/`` in the data folder."""
        url = self.workspace_url
        if url and ("://" not in url or url.startswith("file://")):
            return Path(url.removeprefix("file://")).expanduser() / ".chat-files"
        return self.data_dir / "files"

    @property
    def chat_files_url(self) -> str | None:
        """The object-store workspace URL Chainlit's elements are also kept under (so every
        instance serves them), or None for a local or shared-mount workspace."""
        url = self.workspace_url
        if url and "://" in url and not url.startswith("file://"):
            return url
        return None

    def workspace_for(self, thread_id: str) -> Path:
        """The per-conversation workspace folder (uploads, models, figures)."""
        safe = "".join(c for c in thread_id if c.isalnum() or c in "-_") or "default"
        url = self.workspace_url
        if url and ("://" not in url or url.startswith("file://")):  # a shared mount
            return Path(url.removeprefix("file://")).expanduser() / safe
        return self.data_dir / "workspaces" / safe  # or the local copy of a mirrored one


class _Reader:
    """Typed reads of one merged ``.env`` + environment mapping; errors name the variable."""

    def __init__(self, source: Mapping[str, str]) -> None:
        self._source = source

    def text(self, name: str) -> str | None:
        value = self._source.get(name, "").strip()
        return value or None

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            parsed = float(value)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {value!r}") from None
        if minimum is not None and parsed < minimum:
            raise ValueError(f"{name} must be at least {minimum:g}, not {value!r}")
        return parsed

    def whole(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self.text(name)
        if value is not None and not value.lstrip("+-").isdigit():
            raise ValueError(f"{name} must be a whole number, not {value!r}")
        return int(self.number(name, default, minimum=minimum))

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in _ON:
            return True
        if value.lower() in _OFF:
            return False
        raise ValueError(f"{name} must be on or off, not {value!r}")


def _url_password(url: str | None) -> str | None:
    try:
        return make_url(url).password if url else None
    except (ArgumentError, ValueError):
        return None


def _openai_api(value: str | None, base_url: str | None) -> Literal["responses", "chat"]:
    """``MLCHAT_OPENAI_API``; by default the Responses API unless a base URL is set."""
    if value is None:
        return "chat" if base_url else "responses"
    if value.lower() not in ("responses", "chat"):
        raise ValueError(f"MLCHAT_OPENAI_API must be 'responses' or 'chat', not {value!r}")
    return value.lower()  # type: ignore[return-value]


def _local_price(env: _Reader) -> tuple[float, float] | None:
    """``MLCHAT_LOCAL_PRICE_INPUT`` / ``_OUTPUT`` in USD per million tokens; unset is free."""
    if (
        env.text("MLCHAT_LOCAL_PRICE_INPUT") is None
        and env.text("MLCHAT_LOCAL_PRICE_OUTPUT") is None
    ):
        return None
    return (
        env.number("MLCHAT_LOCAL_PRICE_INPUT", 0.0, minimum=0),
        env.number("MLCHAT_LOCAL_PRICE_OUTPUT", 0.0, minimum=0),
    )


def _optional_whole(env: _Reader, name: str, *, minimum: int) -> int | None:
    """A whole number that may be left unset (``None``)."""
    if env.text(name) is None:
        return None
    return env.whole(name, 0, minimum=minimum)


def _spend_from(env: _Reader) -> SpendSettings:
    """The spend settings: ``MLCHAT_RPM_<PROVIDER>``, ``MLCHAT_TPM_<PROVIDER>``, caps, anomalies."""
    defaults = SpendSettings()
    # A local server gets no limit unless one is set: its limits are the machine's, not a bill's.
    limited = (*_PAID, "local")
    rpm = {
        p: env.whole(f"MLCHAT_RPM_{p.upper()}", DEFAULT_RPM.get(p, 0), minimum=0) for p in limited
    }
    tpm = {
        p: env.whole(f"MLCHAT_TPM_{p.upper()}", DEFAULT_TPM.get(p, 0), minimum=0) for p in limited
    }
    warn = env.number("MLCHAT_SPEND_WARN_FRACTION", defaults.warn_fraction)
    if not 0 < warn <= 1:
        raise ValueError(f"MLCHAT_SPEND_WARN_FRACTION must be in (0, 1], not {warn:g}")
    threshold = env.number("MLCHAT_ERROR_RATE_THRESHOLD", defaults.error_rate_threshold)
    if not 0 < threshold <= 1:
        raise ValueError(f"MLCHAT_ERROR_RATE_THRESHOLD must be in (0, 1], not {threshold:g}")
    return SpendSettings(
        rpm=rpm,
        tpm=tpm,
        burst_s=env.number("MLCHAT_RATE_BURST_S", defaults.burst_s, minimum=0.001),
        cap_thread_usd=env.number(
            "MLCHAT_SPEND_CAP_THREAD_USD", defaults.cap_thread_usd, minimum=0
        ),
        cap_day_usd=env.number("MLCHAT_SPEND_CAP_DAY_USD", defaults.cap_day_usd, minimum=0),
        warn_fraction=warn,
        anomaly_factor=env.number("MLCHAT_ANOMALY_FACTOR", defaults.anomaly_factor, minimum=1.0),
        error_rate_threshold=threshold,
        error_window=env.whole("MLCHAT_ERROR_RATE_WINDOW", defaults.error_window, minimum=1),
        cost_line=env.flag("MLCHAT_COST_LINE", defaults.cost_line),
    )


def _cluster_from(env: _Reader) -> ClusterSettings:
    """The cluster settings: ``MLCHAT_DASK_SCHEDULER``, ``MLCHAT_DASK_JOB_CORES``, ..."""
    defaults = ClusterSettings()
    scheduler = env.text("MLCHAT_DASK_SCHEDULER")
    if scheduler is not None and "://" not in scheduler:
        raise ValueError(f"MLCHAT_DASK_SCHEDULER must look like tcp://host:port, not {scheduler!r}")
    return ClusterSettings(
        scheduler=scheduler,
        job_cores=env.whole("MLCHAT_DASK_JOB_CORES", defaults.job_cores, minimum=1),
        wait_for_worker_s=env.number(
            "MLCHAT_DASK_WAIT_FOR_WORKER_S", defaults.wait_for_worker_s, minimum=1.0
        ),
        dask_above_mb=env.whole("MLCHAT_DASK_ABOVE_MB", defaults.dask_above_mb, minimum=0),
        paused_limit_s=env.number("MLCHAT_DASK_PAUSED_S", defaults.paused_limit_s, minimum=1.0),
    )
