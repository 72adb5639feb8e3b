from __future__ import annotations

import asyncio
from pathlib import Path

from assistant.context import SessionServices
from assistant.settings import Settings
from assistant.store import ConversationStore, Database, RunStore


async def test_a_second_training_waits_for_a_slot_and_says_why(tmp_path: Path) -> None:
    db = Database(tmp_path / "mlchat.db")
    services = SessionServices(
        settings=Settings(data_dir=tmp_path, max_training_jobs=1),
        conversations=ConversationStore(db),
        runs=RunStore(db),
    )
    order: list[str] = []
    waiting: list[str] = []
    release = asyncio.Event()

    async def first() -> None:
        async with services.training_slot(waiting.append):
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with services.training_slot(waiting.append):
            order.append("second in")

    one = asyncio.create_task(first())
    await asyncio.sleep(0)
    two = asyncio.create_task(second())
    await asyncio.sleep(0.05)
    assert order == ["first in"]
    assert len(waiting) == 1 and "MLCHAT_MAX_TRAINING_JOBS" in waiting[0]
    release.set()
    await asyncio.gather(one, two)
    assert order == ["first in", "first out", "second in"]


def test_the_default_is_one_job_per_core(tmp_path: Path) -> None:
    import os

    settings = Settings.from_env({"MLCHAT_DATA_DIR": str(tmp_path)}, env_file=tmp_path / "x.env")
    assert settings.max_training_jobs == max(1, os.cpu_count() or 1)
