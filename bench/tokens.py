"""Tokens sent to the model for the standard conversation, on a 20- and a 300-column table.

The real OpenAI adapter talks to the fake OpenAI server (loopback); the fake
scripts the model's tool calls (train, explain, predict) and records every
request. Input tokens per request are counted from the request body with the
project's counter (tiktoken when its table is cached, else characters / 4).

Target: under 8,000 input tokens per turn on the 300-column table.

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
from tests.fakes.llm_servers import FakeLLMServer, text, tool_call

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


def main() -> int:
    """Print the token table for the 20- and 300-column tables."""
    print(f"{'columns':>7}  {'turn':<48} {'requests':>8} {'max input tokens':>16}  target")
    worst = 0
    for n_columns in (20, 300):
        with tempfile.TemporaryDirectory() as tmp:
            for message, requests, tokens in asyncio.run(measure(n_columns, Path(tmp))):
                worst = max(worst, tokens) if n_columns == 300 else worst
                ok = "ok" if tokens < TARGET_TOKENS else "OVER"
                print(f"{n_columns:>7}  {message:<48} {requests:>8} {tokens:>16,}  {ok}")
    print(f"300-column worst turn: {worst:,} input tokens (target < {TARGET_TOKENS:,}).")
    return 0 if worst < TARGET_TOKENS else 1


if __name__ == "__main__":
    sys.exit(main())
