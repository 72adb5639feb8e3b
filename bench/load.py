"""Load: concurrent chat sessions against the real Chainlit server, over Chainlit's socket.io.

Starts ``chainlit run chat_app.py`` on a free loopback port (offline assistant,
local sandbox, its own data folder), logs in with password auth, and drives
it the way the browser does: ``POST /project/file`` to upload, the
``client_message`` socket.io event to send, ``task_end`` to know a turn ended.

Phase 1: ``--sessions`` sessions (default 20) each attach a small CSV and send
"train a model to predict y with a 10 second budget", all at once, while one
more session sends a plain chat message ("hello") every ``--gap-s`` seconds and
times each reply. Checked afterwards: every session's thread has a finished
run with a model file; the server log has no "database is locked"; the p95 of
the plain replies; the peak memory of the server and all its children
(kernels, training workers) and how many children remain after the phase.

Also counted: sessions whose socket the server dropped (a client that misses the
server's pings for ping_interval + ping_timeout disconnects), and the Chainlit
data layer's failed SQL statements (``chat_sql_failed`` lines: history lost).

Phase 2: one session uploads a ``--big-mb`` CSV (default 256 MB, generated in a
temp folder) and asks to profile it, while the chatter keeps timing replies.

Everything is on 127.0.0.1; nothing is downloaded. Usage::

    .venv/bin/python bench/load.py [--sessions 20] [--big-mb 256] [--json out.json]

Targets (issue 9): every session gets its model, no "database is locked",
p95 of a plain reply under 1 s while others train, memory bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pandas as pd
import psutil
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import PASSWORD, USER, ChainlitServer  # noqa: E402


class LoadServer(ChainlitServer):
    """The e2e server with the load settings (10 s training budget)."""

    def _environment(self) -> dict[str, str]:
        env = super()._environment()
        env["MLCHAT_BUDGET_S"] = "10"
        return env


class Session:
    """One browser-like chat session: an HTTP cookie and a socket.io connection."""

    def __init__(self, base_url: str, http: aiohttp.ClientSession, cookie: str) -> None:
        self.base_url = base_url
        self.http = http
        self.cookie = cookie
        self.session_id = str(uuid.uuid4())
        self.sio = socketio.AsyncClient(reconnection=False)
        self.ended = asyncio.Event()
        self.elements: list[str] = []
        self.texts: list[str] = []
        self.disconnected = False
        self.sio.on("task_end", self._task_end)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("element", self._element)
        self.sio.on("new_message", self._message)
        self.sio.on("update_message", self._message)

    async def _task_end(self, _data: Any = None) -> None:
        self.ended.set()

    async def _disconnect(self, *_: Any) -> None:
        self.disconnected = True
        self.ended.set()  # nothing more will arrive: do not wait for the turn's end

    async def _element(self, data: dict[str, Any]) -> None:
        self.elements.append(str(data.get("name", "")))

    async def _message(self, data: dict[str, Any]) -> None:
        self.texts.append(str(data.get("output", "")))

    async def connect(self) -> None:
        auth = {
            "clientType": "webapp",
            "sessionId": self.session_id,
            "threadId": None,
            "userEnv": "{}",
            "chatProfile": None,
        }
        await self.sio.connect(
            self.base_url,
            headers={"Cookie": self.cookie},
            auth=auth,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            wait_timeout=30,
        )
        await self.sio.emit("connection_successful")
        await asyncio.sleep(0.5)  # let the welcome message go out before the first turn

    async def upload(self, path: Path) -> dict[str, Any]:
        """Upload ``path``; the server's file reference, or ``{"refused": status, "detail": ...}``."""
        form = aiohttp.FormData()
        with path.open("rb") as handle:
            form.add_field("file", handle, filename=path.name, content_type="text/csv")
            async with self.http.post(
                f"{self.base_url}/project/file",
                params={"session_id": self.session_id},
                data=form,
                headers={"Cookie": self.cookie},
            ) as response:
                if response.status >= 400:
                    return {"refused": response.status, "detail": (await response.text())[:200]}
                return await response.json()

    async def say(
        self, text: str, *, files: list[dict[str, Any]] = (), timeout_s: float = 300
    ) -> float:
        """Send a message and return the seconds until its turn ended."""
        self.ended.clear()
        message = {
            "id": str(uuid.uuid4()),
            "threadId": "",
            "output": text,
            "name": USER,
            "type": "user_message",
            "createdAt": dt.datetime.now(dt.UTC).isoformat(),
        }
        payload: dict[str, Any] = {"message": message}
        if files:
            payload["fileReferences"] = [{"id": f["id"]} for f in files]
        if self.disconnected:
            raise ConnectionError("the server dropped this session's socket")
        started = time.monotonic()
        await self.sio.emit("client_message", payload)
        await asyncio.wait_for(self.ended.wait(), timeout_s)
        if self.disconnected:
            raise ConnectionError("the server dropped this session's socket mid-turn")
        return time.monotonic() - started

    async def close(self) -> None:
        await self.sio.disconnect()


async def login(http: aiohttp.ClientSession, base_url: str) -> str:
    async with http.post(
        f"{base_url}/login", data={"username": USER, "password": PASSWORD}
    ) as response:
        response.raise_for_status()
        cookies = response.cookies
    return "; ".join(f"{k}={v.value}" for k, v in cookies.items())


class MemoryWatch:
    """Samples the RSS of the server and all its children."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_mb = 0.0
        self.peak_children = 0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> tuple[float, int]:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0, 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 2**20, len(processes) - 1

    async def _run(self) -> None:
        while True:
            rss, children = self.sample()
            self.peak_mb = max(self.peak_mb, rss)
            self.peak_children = max(self.peak_children, children)
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def chatter(
    session: Session, stop: asyncio.Event, gap_s: float, problems: list[str] | None = None
) -> list[float]:
    """Plain chat replies, timed, until ``stop`` is set (a failure is noted in ``problems``)."""
    latencies = []
    while not stop.is_set():
        try:
            latencies.append(await session.say("hello", timeout_s=120))
        except (ConnectionError, TimeoutError) as exc:
            if problems is not None:
                problems.append(f"{type(exc).__name__}: {exc}")
            break
        await asyncio.sleep(gap_s)
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def small_csv(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n).round(3),
            "x2": rng.integers(0, 9, n),
            "kind": rng.choice(["a", "b", "c"], n),
        }
    )
    frame["y"] = np.where(frame["x1"] + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    frame.to_csv(path, index=False)


def big_csv(path: Path, megabytes: int) -> int:
    """A CSV of about ``megabytes`` MB written in chunks; returns its row count."""
    rng = np.random.default_rng(0)
    rows = 0
    with path.open("w") as handle:
        handle.write("a,b,c,d,y\n")
        while True:
            block = rng.normal(size=(100_000, 4)).round(4)
            labels = (block[:, 0] > 0).astype(int)
            lines = "\n".join(
                f"{a},{b},{c},{d},{y}" for (a, b, c, d), y in zip(block, labels, strict=True)
            )
            if handle.tell() + len(lines) + 1 > megabytes << 20:
                break  # stay under the size so a limit of exactly that many MB admits it
            handle.write(lines + "\n")
            rows += len(block)
    return rows


def finished_runs(data_dir: Path) -> dict[str, int]:
    db = sqlite3.connect(data_dir / "mlchat.db")
    try:
        rows = db.execute(
            "SELECT thread_id, count(*) FROM runs WHERE status = 'finished' GROUP BY thread_id"
        ).fetchall()
    finally:
        db.close()
    return dict(rows)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="mlchat-load-"))
    big = base / "big.csv"
    rows = big_csv(big, args.big_mb) if args.big_mb > 0 else 0  # before any socket: it blocks
    server = LoadServer(base / "data", base / "server.log")
    server.start()
    results: dict[str, Any] = {"sessions": args.sessions}
    try:
        assert server.process is not None
        watch = MemoryWatch(server.process.pid)
        watch.start()
        async with aiohttp.ClientSession() as http:
            cookie = await login(http, server.url)
            talker = Session(server.url, http, cookie)
            await talker.connect()
            await talker.say("hello", timeout_s=60)  # warm
            users = [Session(server.url, http, cookie) for _ in range(args.sessions)]
            await asyncio.gather(*(u.connect() for u in users))
            files = []
            for index, user in enumerate(users):
                path = base / f"table-{index}.csv"
                small_csv(path, index)
                files.append(await user.upload(path))

            stop = asyncio.Event()
            talking = asyncio.create_task(chatter(talker, stop, args.gap_s))
            started = time.monotonic()
            train_s = await asyncio.gather(
                *(
                    u.say(
                        "train a model to predict y with a 10 second budget",
                        files=[f],
                        timeout_s=args.turn_timeout_s,
                    )
                    for u, f in zip(users, files, strict=True)
                ),
                return_exceptions=True,
            )
            phase1_s = time.monotonic() - started
            stop.set()
            latencies = await talking
            got_model = sum(1 for u in users if any(e.endswith(".joblib") for e in u.elements))
            await asyncio.sleep(3)
            _, children_after = watch.sample()
            runs = finished_runs(base / "data")
            results["phase1"] = {
                "wall_s": round(phase1_s, 1),
                "turn_errors": sum(1 for t in train_s if isinstance(t, BaseException)),
                "train_turn_s_median": round(
                    statistics.median(t for t in train_s if isinstance(t, float)), 1
                )
                if any(isinstance(t, float) for t in train_s)
                else None,
                "train_turn_s_max": round(max(t for t in train_s if isinstance(t, float)), 1)
                if any(isinstance(t, float) for t in train_s)
                else None,
                "sessions_offered_a_model": got_model,
                "sessions_disconnected": sum(1 for u in users if u.disconnected),
                "chatter_disconnected": talker.disconnected,
                "threads_with_a_finished_run": len(runs),
                "plain_replies": len(latencies),
                "plain_reply_p50_s": round(percentile(latencies, 0.5), 3),
                "plain_reply_p95_s": round(percentile(latencies, 0.95), 3),
                "plain_reply_max_s": round(max(latencies), 3) if latencies else None,
                "peak_rss_mb": round(watch.peak_mb),
                "peak_child_processes": watch.peak_children,
                "child_processes_3s_after": children_after,
            }
            await asyncio.gather(*(u.close() for u in users), return_exceptions=True)
            print(json.dumps({"phase1": results["phase1"]}), flush=True)

            if args.big_mb > 0:
                uploader = Session(server.url, http, cookie)
                await uploader.connect()
                watch.peak_mb = 0.0
                stop = asyncio.Event()
                problems: list[str] = []
                talking = asyncio.create_task(chatter(talker, stop, args.gap_s, problems))
                started = time.monotonic()
                reference = await uploader.upload(big)
                upload_s = time.monotonic() - started
                profile_s = None
                if "refused" not in reference:
                    profile_s = await uploader.say(
                        "show the data", files=[reference], timeout_s=args.turn_timeout_s
                    )
                stop.set()
                latencies = await talking
                results["phase2"] = {
                    "file_mb": round(big.stat().st_size / 2**20),
                    "rows": rows,
                    "upload_s": round(upload_s, 1),
                    "upload_refused": reference.get("refused"),
                    "profile_turn_s": round(profile_s, 1) if profile_s is not None else None,
                    "profile_reply_ok": any("rows x" in t for t in uploader.texts),
                    "plain_replies": len(latencies),
                    "plain_reply_p50_s": round(percentile(latencies, 0.5), 3),
                    "plain_reply_p95_s": round(percentile(latencies, 0.95), 3),
                    "plain_reply_max_s": round(max(latencies), 3) if latencies else None,
                    "chatter_problems": problems,
                    "uploader_disconnected": uploader.disconnected,
                    "peak_rss_mb": round(watch.peak_mb),
                }
                await uploader.close()
            await talker.close()
        await watch.stop()
    finally:
        server.stop()
        log_text = server.log_path.read_text(encoding="utf-8", errors="replace")
        results["database_is_locked_in_log"] = log_text.count("database is locked")
        results["tracebacks_in_log"] = log_text.count("Traceback")
        failed_sql = re.findall(r"chat_sql_failed .*? error=(\w+)", log_text)
        results["chat_history_sql_failures"] = dict(Counter(failed_sql))
        if args.keep:
            results["folder"] = str(base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return results


def bench_parser(doc: str, *, sessions: int, turn_timeout_s: float) -> argparse.ArgumentParser:
    """The options every load bench takes: sessions, the turn timeout, --json and --keep."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=sessions)
    parser.add_argument("--turn-timeout-s", type=float, default=turn_timeout_s)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the folders and logs")
    return parser


def run_and_report(
    run: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]], args: argparse.Namespace
) -> dict[str, Any]:
    """Run a bench, print its results as JSON and, with ``--json``, write them there."""
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return results


def main() -> int:
    parser = bench_parser(__doc__, sessions=20, turn_timeout_s=240)
    parser.add_argument("--big-mb", type=int, default=256, help="0 skips phase 2")
    parser.add_argument("--gap-s", type=float, default=0.5, help="pause between plain messages")
    args = parser.parse_args()
    results = run_and_report(run, args)
    phase1 = results.get("phase1", {})
    ok = (
        phase1.get("threads_with_a_finished_run") == args.sessions
        and results["database_is_locked_in_log"] == 0
        and not results["chat_history_sql_failures"]
        and not phase1.get("sessions_disconnected")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
