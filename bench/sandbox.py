"""Sandbox latency: kernel cold start, warm round trip of ``1+1``, streaming 10 MB of stdout.

Runs the real confined local kernel (whatever confinement this machine
supports, caps on the whole sandbox included: cgroup, sized tmpfs, scratch
image; the report is printed first). The dataset sits in ``uploads/`` as an
attached file does. Usage::

    .venv/bin/python bench/sandbox.py [--repeats 5] [--round-trips 200]

With ``--turns`` it also times a cold and a warm ``run_code`` turn and a training turn
(:mod:`turn_latency`), the cost of the trust boundary a user feels.

Targets (issue #5): cold start < 2 s, warm round trip < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from assistant.sandbox import LocalExecutor

STREAM_BYTES = 10 * 2**20
LINE = "x" * 1023  # plus the newline: 1 KiB per line


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def cold_starts(repeats: int, *, with_data: bool) -> list[float]:
    seconds = []
    for _ in range(repeats):
        workspace = Path(tempfile.mkdtemp(prefix="mlchat-bench-"))
        dataset = None
        if with_data:
            (workspace / "uploads").mkdir()
            dataset = workspace / "uploads" / "data.csv"
            dataset.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(10_000)))
        executor = LocalExecutor(workspace, dataset_path=dataset)
        started = time.perf_counter()
        await executor.start()
        seconds.append(time.perf_counter() - started)
        await executor.close()
    return seconds


async def warm_and_stream(round_trips: int) -> tuple[list[float], float, int]:
    executor = LocalExecutor(Path(tempfile.mkdtemp(prefix="mlchat-bench-")))
    await executor.start()
    await executor.run("1+1")
    latencies = []
    for _ in range(round_trips):
        started = time.perf_counter()
        execution = await executor.run("1+1")
        latencies.append(time.perf_counter() - started)
        assert execution.results[0].text == "2"
    received = 0

    def count(stream: str, text: str) -> None:
        nonlocal received
        received += len(text)

    lines = STREAM_BYTES // (len(LINE) + 1)
    started = time.perf_counter()
    execution = await executor.run(
        f"for _ in range({lines}):\n    print({LINE!r})", on_output=count
    )
    stream_s = time.perf_counter() - started
    assert execution.error is None, execution.error
    await executor.close()
    return latencies, stream_s, len(execution.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument(
        "--turns",
        action="store_true",
        help="also time whole chat turns around the sandbox (bench/turn_latency.py)",
    )
    args = parser.parse_args()

    executor = LocalExecutor(Path(tempfile.mkdtemp(prefix="mlchat-bench-")))
    print(executor.report.summary)
    print()

    cold = asyncio.run(cold_starts(args.repeats, with_data=False))
    cold_data = asyncio.run(cold_starts(args.repeats, with_data=True))
    warm, stream_s, kept = asyncio.run(warm_and_stream(args.round_trips))

    rows = [
        ("cold start (median)", f"{statistics.median(cold):.2f} s", "< 2 s", statistics.median(cold) < 2),
        ("cold start + 10k-row CSV as df", f"{statistics.median(cold_data):.2f} s", "-", None),
        ("warm 1+1 (median)", f"{statistics.median(warm) * 1000:.1f} ms", "< 20 ms", statistics.median(warm) < 0.02),
        ("warm 1+1 (p95)", f"{percentile(warm, 0.95) * 1000:.1f} ms", "-", None),
        ("stream 10 MB stdout", f"{stream_s:.2f} s = {STREAM_BYTES / 2**20 / stream_s:.1f} MB/s", "-", None),
        ("  stdout kept (capped)", f"{kept:,} chars", "<= ~1 MB", kept <= 1_100_000),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>24}  {'target':>9}  ok")
    for name, value, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:<{width}}  {value:>24}  {target:>9}  {mark}")
    print(f"\n{args.repeats} cold starts each, {args.round_trips} warm round trips")
    if args.turns:
        from turn_latency import (  # bench/ is on sys.path as the script's folder
            measure,
            print_table,
        )

        print(f"\nWhole turns through Assistant.run_turn, {args.repeats} conversations:")
        print_table(asyncio.run(measure(args.repeats)))


if __name__ == "__main__":
    main()
