"""Latency of the model service (``mlchat serve-model``): p50 / p99 for 1 and 1,000 rows.

Trains the churn model of the chat's tests through the offline assistant (a
real run, recorded with its checksum), starts ``mlchat serve-model RUN`` as its
own process on a loopback port, and times requests from one keep-alive client:

    python bench/serve.py                      # 300 one-row and 60 thousand-row requests
    python bench/serve.py --small 1000 --large 200

Rows: ``POST /predict`` with JSON rows; ``POST /predict/csv`` with the same
thousand rows as a CSV file. Prints a table and writes it to
``bench/results/serve.md``. Latency is wall time per request as the client sees
it (serialisation, HTTP, validation, prediction); the first 5 requests of each
kind are warm-up and not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.session import Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from tests.assistant.test_conversation import churn_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
_WARM_UP = 5


def _train(data_dir: Path) -> str:
    """Train through the chat's own path; return the run id."""

    async def run() -> str:
        settings = Settings.from_env(
            {"MLCHAT_DATA_DIR": str(data_dir), "MLCHAT_BUDGET_S": "10"},
            env_file=data_dir / "none.env",
        )
        assistant = Assistant(settings)
        table = data_dir.parent / "churn.csv"
        churn_table(2_000).to_csv(table, index=False)
        record = assistant.attach_file("bench", table)
        _ = [
            e
            async for e in assistant.run_turn(
                "bench", "train a model to predict churn", attachments=[record]
            )
        ]
        found = assistant.runs.latest("bench", with_model=True)
        await assistant.close()
        assert found is not None, "training produced no model"
        return found.id

    return asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    ms = np.asarray(samples_s[_WARM_UP:]) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(statistics.mean(ms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=300, help="one-row requests")
    parser.add_argument("--large", type=int, default=60, help="thousand-row requests (each kind)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlchat-bench-serve-") as folder:
        data_dir = Path(folder) / "data"
        started = time.monotonic()
        run_id = _train(data_dir)
        print(f"trained run {run_id} in {time.monotonic() - started:.1f} s")
        port = _free_port()
        env = {**os.environ, "MLCHAT_DATA_DIR": str(data_dir)}
        command = [
            sys.executable,
            "-m",
            "assistant.cli",
            "serve-model",
            run_id,
            "--port",
            str(port),
        ]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        try:
            rows = json.loads(
                churn_table(1_000, seed=7).drop(columns="churn").to_json(orient="records")
            )
            csv = churn_table(1_000, seed=7).drop(columns="churn").to_csv(index=False)
            with httpx.Client(timeout=60) as client:
                for _ in range(300):
                    try:
                        if client.get(f"{url}/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                cases = {
                    "JSON, 1 row": (
                        args.small,
                        lambda: client.post(f"{url}/predict", json={"rows": rows[:1]}),
                    ),
                    "JSON, 1,000 rows": (
                        args.large,
                        lambda: client.post(f"{url}/predict", json={"rows": rows}),
                    ),
                    "CSV, 1,000 rows": (
                        args.large,
                        lambda: client.post(
                            f"{url}/predict/csv", files={"file": ("rows.csv", csv)}
                        ),
                    ),
                }
                lines = [
                    "| request | requests | p50 (ms) | p99 (ms) | mean (ms) |",
                    "|---|---:|---:|---:|---:|",
                ]
                for name, (count, send) in cases.items():
                    samples = []
                    for _ in range(count + _WARM_UP):
                        begin = time.perf_counter()
                        response = send()
                        samples.append(time.perf_counter() - begin)
                        assert response.status_code == 200, response.text[:300]
                    p50, p99, mean = _percentiles(samples)
                    lines.append(f"| {name} | {count} | {p50:.1f} | {p99:.1f} | {mean:.1f} |")
        finally:
            server.terminate()
            server.wait(timeout=15)
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serve.md").write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
