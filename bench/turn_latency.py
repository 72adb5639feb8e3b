"""What the user waits for around the sandbox: a ``run_code`` turn and a training turn.

Drives the offline assistant in process through :meth:`Assistant.run_turn`, the
call ``mlchat chat`` and the browser make, on a generated 2,000-row CSV:

- a cold ``run_code`` turn (a fenced block in a new conversation: kernel start,
  dataset load, ``print(1 + 1)``),
- a warm ``run_code`` turn (the same block again in that conversation),
- a training turn ("train a model to predict y") at a 5 s budget.

Prints the median and range over ``--repeats`` conversations. Usage::

    .venv/bin/python bench/turn_latency.py [--repeats 5]

Used by ``bench/sandbox.py --turns`` to report the cost of the workspace's trust
boundary before and after a change (run it from each checkout).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from assistant.events import Event, ToolFinished
from assistant.session import Assistant
from assistant.settings import Settings

CODE_TURN = "```python\nprint(1 + 1)\n```"
TRAIN_TURN = "train a model to predict y"
BUDGET_S = 5


def _dataset(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2_000, 8)), columns=[f"x{i}" for i in range(8)])
    frame["kind"] = rng.choice(["a", "b", "c"], len(frame))
    frame["y"] = np.where(frame["x0"] + frame["x1"] > 0, "yes", "no")
    path = folder / "bench.csv"
    frame.to_csv(path, index=False)
    return path


async def _timed_turn(assistant: Assistant, thread: str, text: str) -> tuple[float, list[Event]]:
    started = time.perf_counter()
    events = [e async for e in assistant.run_turn(thread, text)]
    return time.perf_counter() - started, events


def _tools_ok(events: list[Event]) -> bool:
    finished = [e for e in events if isinstance(e, ToolFinished)]
    return bool(finished) and all(not e.is_error for e in finished)


async def measure(repeats: int) -> dict[str, list[float]]:
    """Seconds per turn kind over ``repeats`` fresh conversations."""
    root = Path(tempfile.mkdtemp(prefix="mlchat-bench-turns-"))
    settings = Settings.from_env(
        {
            "MLCHAT_DATA_DIR": str(root / "data"),
            "MLCHAT_BUDGET_S": str(BUDGET_S),
            "MLCHAT_CODE_APPROVAL": "always",
        },
        env_file=root / "none",
    )
    csv = _dataset(root)
    assistant = Assistant(settings)
    seconds: dict[str, list[float]] = {"run_code cold": [], "run_code warm": [], "training": []}
    try:
        for repeat in range(repeats):
            thread = f"bench-{repeat}"
            record = assistant.attach_file(thread, csv)
            attach = [e async for e in assistant.run_turn(thread, "", attachments=[record])]
            del attach
            for kind, text in (
                ("run_code cold", CODE_TURN),
                ("run_code warm", CODE_TURN),
                ("training", TRAIN_TURN),
            ):
                took, events = await _timed_turn(assistant, thread, text)
                if not _tools_ok(events):
                    raise RuntimeError(f"{kind} turn failed: {events}")
                seconds[kind].append(took)
            await assistant.sandboxes.close(thread)
    finally:
        await assistant.close()
    return seconds


def print_table(seconds: dict[str, list[float]]) -> None:
    """One row per turn kind: median, min and max in seconds."""
    print(f"{'turn':<16}{'median s':>10}{'min s':>9}{'max s':>9}")
    for kind, values in seconds.items():
        print(f"{kind:<16}{statistics.median(values):>10.3f}{min(values):>9.3f}{max(values):>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print_table(asyncio.run(measure(args.repeats)))


if __name__ == "__main__":
    main()
