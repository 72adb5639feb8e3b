"""Tokens sent to the model for the standard conversation, on a 20- and a 300-column table,
and the share of them each provider's prompt cache serves over a 10-turn conversation.

The real OpenAI adapter talks to the fake OpenAI server (loopback); the fake
scripts the model's tool calls (train, explain, predict) and records every
request. Input tokens per request are counted from the request body with the
project's counter (tiktoken when its table is cached, else characters / 4).

Target: under 8,000 input tokens per turn on the 300-column table.

Caching: the same 10-turn conversation (train, then leaderboard, explain,
profile and plain questions) runs through each real adapter against a fake
that reports cache reads and writes the way that provider does
(``tests/fakes/prompt_cache.py``: OpenAI's automatic prefix caching, through
the Responses API, Gemini's implicit caching, Anthropic's breakpoints). The table shows the cached share of all
input tokens, the tokens written to the cache, and the estimated cost.

Run: .venv/bin/python -m bench.tokens
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from assistant.providers.tokens import count_text_tokens
from assistant.session import Assistant
from assistant.settings import Settings
from tests.fakes.llm_servers import FakeLLMServer, Turn, text, tool_call

TARGET_TOKENS = 8_000
TURNS = (
    ("train a model on this file to predict target", "train_models", {"target": "target"}),
    ("why does the model work?", "explain_model", {}),
    ("predict on this file", "predict_file", {"dataset_id": "d2"}),
)


def make_table(n_columns: int, *, n_rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """A classification table with ``n_columns`` features, a few of them categorical."""
    features, labels = make_classification(
        n_samples=n_rows, n_features=n_columns, n_informative=min(10, n_columns), random_state=seed
    )
    frame = pd.DataFrame(features, columns=[f"feature_{i:03d}" for i in range(n_columns)])
    rng = np.random.default_rng(seed)
    for i in range(min(3, n_columns)):
        frame[f"feature_{i:03d}"] = rng.choice(["red", "green", "blue"], n_rows)
    frame["target"] = np.where(labels == 1, "yes", "no")
    return frame


async def measure(n_columns: int, folder: Path) -> list[tuple[str, int, int]]:
    """(turn, requests, max input tokens of one request) for each turn of the conversation."""
    table = make_table(n_columns)
    table.to_csv(folder / "train.csv", index=False)
    table.drop(columns="target").head(50).to_csv(folder / "new.csv", index=False)
    rows = []
    with FakeLLMServer("openai") as fake:
        settings = Settings.from_env(
            {
                "MLCHAT_DATA_DIR": str(folder / "data"),
                "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": fake.url,
                "MLCHAT_BUDGET_S": "5",
            },
            env_file=folder / "none.env",
        )
        assistant = Assistant(settings)
        try:
            for message, tool, arguments in TURNS:
                fake.reply(tool_call(tool, arguments), text("Here is what I found."))
                attach = (
                    "new.csv"
                    if tool == "predict_file"
                    else "train.csv"
                    if tool == "train_models"
                    else None
                )
                records = [assistant.attach_file("bench", folder / attach)] if attach else []
                before = len(fake.requests)
                async for _ in assistant.run_turn("bench", message, attachments=records):
                    pass
                sent = fake.requests[before:]
                tokens = [
                    count_text_tokens(json.dumps(r.body.get("messages", [])))
                    + count_text_tokens(json.dumps(r.body.get("tools", [])))
                    for r in sent
                ]
                rows.append((message, len(sent), max(tokens)))
        finally:
            await assistant.close()
    return rows


CACHE_TURNS: tuple[tuple[str, str | None, dict[str, object]], ...] = (
    ("train a model on this file to predict target", "train_models", {"target": "target"}),
    ("show the leaderboard", "show_leaderboard", {}),
    ("which features matter?", "explain_model", {}),
    ("thanks, that helps", None, {}),
    ("profile the data again", "profile_dataset", {"dataset_id": "d1"}),
    ("show the leaderboard once more", "show_leaderboard", {}),
    ("what does the top feature do?", "explain_model", {"feature": "feature_005"}),
    ("ok", None, {}),
    ("and the profile?", "profile_dataset", {"dataset_id": "d1"}),
    ("great, thank you", None, {}),
)
PROVIDER_ENV = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "gemini": ("GEMINI_API_KEY", "GEMINI_BASE_URL"),
}


async def measure_caching(protocol: str, n_columns: int, folder: Path) -> dict[str, float]:
    """Totals of the 10-turn conversation through ``protocol``'s adapter and cache-reporting fake."""
    make_table(n_columns).to_csv(folder / "train.csv", index=False)
    key, url = PROVIDER_ENV[protocol]
    with FakeLLMServer(protocol, prompt_cache=True) as fake:  # type: ignore[arg-type]
        settings = Settings.from_env(
            {
                "MLCHAT_DATA_DIR": str(folder / "data"),
                "MLCHAT_PROVIDER": protocol,
                key: "bench-key",
                url: fake.url,
                "MLCHAT_BUDGET_S": "5",
                f"MLCHAT_TPM_{protocol.upper()}": "0",
                f"MLCHAT_RPM_{protocol.upper()}": "0",
                "MLCHAT_SPEND_CAP_THREAD_USD": "0",
                "MLCHAT_SPEND_CAP_DAY_USD": "0",
                "MLCHAT_OPENAI_API": "responses",  # what OpenAI itself is spoken to with
            },
            env_file=folder / "none.env",
        )
        assistant = Assistant(settings)
        try:
            for number, (message, tool, arguments) in enumerate(CACHE_TURNS):
                replies: list[Turn] = [text("Here is what I found.")]
                if tool is not None:
                    replies.insert(0, tool_call(tool, arguments))
                fake.reply(*replies)
                records = (
                    [assistant.attach_file("bench", folder / "train.csv")] if number == 0 else []
                )
                async for _ in assistant.run_turn("bench", message, attachments=records):
                    pass
            row = assistant.db.query(
                "SELECT COUNT(*) AS calls, SUM(input_tokens) AS input, SUM(cached_tokens) AS cached,"
                " SUM(cache_write_tokens) AS written, SUM(cost_usd) AS cost FROM llm_calls"
                " WHERE thread_id = 'bench'"
            )[0]
        finally:
            await assistant.close()
    return {k: float(row[k] or 0) for k in ("calls", "input", "cached", "written", "cost")}


def print_caching(n_columns: int = 300) -> None:
    """The cached share of input tokens per provider over the 10-turn conversation."""
    print(f"\nPrompt caching, 10 turns on a {n_columns}-column table:")
    print(
        f"{'provider':<10} {'requests':>8} {'input tokens':>12} {'per turn':>9} {'cached':>7}"
        f" {'written':>8} {'cost USD':>9}"
    )
    for protocol in PROVIDER_ENV:
        with tempfile.TemporaryDirectory() as tmp:
            totals = asyncio.run(measure_caching(protocol, n_columns, Path(tmp)))
        share = totals["cached"] / totals["input"] if totals["input"] else 0.0
        print(
            f"{protocol:<10} {totals['calls']:>8.0f} {totals['input']:>12,.0f}"
            f" {totals['input'] / len(CACHE_TURNS):>9,.0f} {share:>7.0%}"
            f" {totals['written']:>8,.0f} {totals['cost']:>9.4f}"
        )


def main() -> int:
    """Print the token table for the 20- and 300-column tables, then the caching table."""
    print(f"{'columns':>7}  {'turn':<48} {'requests':>8} {'max input tokens':>16}  target")
    worst = 0
    for n_columns in (20, 300):
        with tempfile.TemporaryDirectory() as tmp:
            for message, requests, tokens in asyncio.run(measure(n_columns, Path(tmp))):
                worst = max(worst, tokens) if n_columns == 300 else worst
                ok = "ok" if tokens < TARGET_TOKENS else "OVER"
                print(f"{n_columns:>7}  {message:<48} {requests:>8} {tokens:>16,}  {ok}")
    print(f"300-column worst turn: {worst:,} input tokens (target < {TARGET_TOKENS:,}).")
    print_caching()
    return 0 if worst < TARGET_TOKENS else 1


if __name__ == "__main__":
    sys.exit(main())
