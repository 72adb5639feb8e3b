"""Configuration from the environment and an optional ``.env`` file.

Every knob of mlchat is read here, once, into a frozen :class:`Settings`.
Secrets are kept out of ``repr`` so that logging a settings object never
prints a key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values

ProviderName = Literal["openai", "anthropic", "gemini", "offline"]
SandboxName = Literal["local", "e2b"]

_DEFAULT_MODELS: dict[str, str] = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-6",
    "gemini": "gemini-2.5-flash",
    "offline": "rules",
}


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
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str | None = None
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_base_url: str | None = None
    sandbox: SandboxName = "local"
    e2b_api_key: str | None = field(default=None, repr=False)
    sandbox_memory_mb: int = 4096
    sandbox_cpu_s: int = 600
    sandbox_timeout_s: float = 120.0
    sandbox_idle_s: float = 1800.0
    sandbox_max_kernels: int = 8
    budget_s: int = 60
    max_training_jobs: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    """Training/tuning worker processes at once; more requests wait their turn."""
    max_upload_mb: int = 1024
    turn_deadline_s: float = 600.0
    max_tool_calls: int = 12
    database_url: str | None = None
    """SQLAlchemy URL for the chat history; ``None`` means SQLite in ``data_dir``."""
    tuning_storage: str | None = None
    """Optuna storage URL; ``None`` means the SQLite database in ``data_dir``."""
    log_model_data: bool = False

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, *, env_file: Path | None = None
    ) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) over a ``.env`` file.

        Values in the environment win over the ``.env`` file; the ``.env`` file is
        looked up in the current directory unless ``env_file`` is given.
        """
        source: dict[str, str] = {}
        dotenv_path = env_file or Path.cwd() / ".env"
        if dotenv_path.is_file():
            source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        source.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = source.get(name, "").strip()
            return value or None

        def get_int(name: str, default: int) -> int:
            value = get(name)
            return int(value) if value is not None else default

        def get_float(name: str, default: float) -> float:
            value = get(name)
            return float(value) if value is not None else default

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
            anthropic_api_key=get("ANTHROPIC_API_KEY"),
            anthropic_base_url=get("ANTHROPIC_BASE_URL"),
            gemini_api_key=get("GEMINI_API_KEY") or get("GOOGLE_API_KEY"),
            gemini_base_url=get("GEMINI_BASE_URL"),
            sandbox=sandbox,  # type: ignore[arg-type]
            e2b_api_key=e2b_key,
            sandbox_memory_mb=get_int("MLCHAT_SANDBOX_MEMORY_MB", 4096),
            sandbox_cpu_s=get_int("MLCHAT_SANDBOX_CPU_S", 600),
            sandbox_timeout_s=get_float("MLCHAT_SANDBOX_TIMEOUT_S", 120.0),
            sandbox_idle_s=get_float("MLCHAT_SANDBOX_IDLE_S", 1800.0),
            sandbox_max_kernels=get_int("MLCHAT_SANDBOX_MAX_KERNELS", 8),
            budget_s=get_int("MLCHAT_BUDGET_S", 60),
            max_training_jobs=max(1, get_int("MLCHAT_MAX_TRAINING_JOBS", os.cpu_count() or 1)),
            max_upload_mb=get_int("MLCHAT_MAX_UPLOAD_MB", 1024),
            turn_deadline_s=get_float("MLCHAT_TURN_DEADLINE_S", 600.0),
            max_tool_calls=get_int("MLCHAT_MAX_TOOL_CALLS", 12),
            database_url=get("MLCHAT_DATABASE_URL"),
            tuning_storage=get("MLCHAT_TUNING_STORAGE"),
            log_model_data=get("MLCHAT_LOG_MODEL_DATA") in ("1", "true", "yes"),
        )

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields replaced (settings panel, tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value that is set, for redaction and leak tests."""
        keys = (self.openai_api_key, self.anthropic_api_key, self.gemini_api_key, self.e2b_api_key)
        return tuple(k for k in keys if k)

    def key_for(self, provider: ProviderName) -> str | None:
        """The API key configured for ``provider`` (``None`` for offline)."""
        return {
            "openai": self.openai_api_key,
            "anthropic": self.anthropic_api_key,
            "gemini": self.gemini_api_key,
        }.get(provider)

    def default_model(self, provider: ProviderName) -> str:
        """The model used for ``provider`` when ``MLCHAT_MODEL`` is not set."""
        return _DEFAULT_MODELS[provider]

    @property
    def database_path(self) -> Path:
        """The SQLite database file inside the data folder."""
        return self.data_dir / "mlchat.db"

    def workspace_for(self, thread_id: str) -> Path:
        """The per-conversation workspace folder (uploads, models, figures)."""
        safe = "".join(c for c in thread_id if c.isalnum() or c in "-_") or "default"
        return self.data_dir / "workspaces" / safe
