from __future__ import annotations

from pathlib import Path

import pytest

from assistant.settings import Settings


def test_environment_wins_over_dotenv_and_keys_stay_out_of_repr(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-from-dotenv\nMLCHAT_BUDGET_S=30\n")
    settings = Settings.from_env(
        {"OPENAI_API_KEY": "sk-canary-123", "MLCHAT_DATA_DIR": str(tmp_path)}, env_file=env_file
    )
    assert settings.openai_api_key == "sk-canary-123"
    assert settings.budget_s == 30
    assert settings.data_dir == tmp_path
    assert "sk-canary-123" not in repr(settings)
    assert settings.secrets == ("sk-canary-123",)


def test_e2b_key_switches_the_sandbox_unless_told_otherwise(tmp_path: Path) -> None:
    missing = tmp_path / "none.env"
    assert Settings.from_env({"E2B_API_KEY": "e2b_00"}, env_file=missing).sandbox == "e2b"
    both = {"E2B_API_KEY": "e2b_00", "MLCHAT_SANDBOX": "local"}
    assert Settings.from_env(both, env_file=missing).sandbox == "local"


def test_unknown_provider_is_rejected_with_the_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="openai, anthropic, gemini, local, offline"):
        Settings.from_env({"MLCHAT_FALLBACKS": "openai,mistral"}, env_file=tmp_path / "x.env")


def test_workspace_names_cannot_escape_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.workspace_for("../../etc") == tmp_path / "workspaces" / "etc"


def test_spend_settings_are_read_with_the_rest_under_their_documented_names(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MLCHAT_RPM_OPENAI=30\nMLCHAT_SPEND_CAP_THREAD_USD=0.5\n")
    settings = Settings.from_env(
        {"MLCHAT_SPEND_CAP_THREAD_USD": "0.25", "MLCHAT_COST_LINE": "off"}, env_file=env_file
    )
    assert settings.spend.rpm["openai"] == 30  # from .env
    assert settings.spend.cap_thread_usd == 0.25  # the environment wins
    assert settings.spend.cost_line is False
    assert settings.with_changes(budget_s=5).spend == settings.spend
    with pytest.raises(ValueError, match="MLCHAT_BUDGET_S must be a whole number"):
        Settings.from_env({"MLCHAT_BUDGET_S": "soon"}, env_file=env_file)


def test_database_passwords_are_secrets_kept_out_of_the_repr() -> None:
    env = {
        "MLCHAT_DATABASE_URL": "postgresql://app:store-pw-1@db/mlchat",
        "MLCHAT_SQL_URL": "postgresql://analyst:sql-pw-2@warehouse/sales",
        "MLCHAT_SQL_MAX_ROWS": "5000",
    }
    settings = Settings.from_env(env, env_file=Path("/nonexistent/.env"))
    assert {"store-pw-1", "sql-pw-2"} <= set(settings.secrets)
    assert "store-pw-1" not in repr(settings) and "sql-pw-2" not in repr(settings)
    assert (settings.sql_max_rows, settings.store_location) == (5000, env["MLCHAT_DATABASE_URL"])
