"""Child process for test_sigkill: chat turns through the real Assistant against a fake server.

Usage: ``python -m tests.reliability.sigkill_child DATA_DIR MODE`` where MODE is

- ``loop``: run turns forever; after each finished turn print ``ack <thread> <turn>`` (the
  turn is acknowledged to the user) and flush, so the parent can SIGKILL at any moment;
- ``after-usage``: run one turn and SIGKILL itself right after the usage row of the model
  call is committed (seen through sqlite3's statement trace), to show whether the reply
  message is committed in the same transaction.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import event

from assistant.events import TurnFinished
from assistant.session import Assistant
from assistant.settings import Settings
from tests.fakes.llm_servers import FakeLLMServer, text


def _kill_after_usage_commit(assistant: Assistant) -> None:
    state = {"usage": False, "in_tx": False, "armed": False}

    def trace(statement: str) -> None:
        head = statement.lstrip().upper()
        if state["armed"]:
            os.kill(os.getpid(), signal.SIGKILL)
        if head.startswith("BEGIN"):
            state["in_tx"] = True
        elif head.startswith(("COMMIT", "END")):
            state["in_tx"] = False
            if state["usage"]:
                state["armed"] = True
        elif head.startswith("INSERT INTO LLM_CALLS"):
            state["usage"] = True
            if not state["in_tx"]:
                state["armed"] = True

    engine = assistant.db.engine
    engine.dispose()  # every connection from now on is a new one, traced from its start
    event.listen(engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(trace))


async def main(data_dir: Path, mode: str) -> None:
    with FakeLLMServer("openai") as fake:
        fake.default = text("Noted, thank you.")
        env = {
            "MLCHAT_DATA_DIR": str(data_dir),
            "MLCHAT_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test-sigkill",
            "OPENAI_BASE_URL": fake.url,
            "MLCHAT_RPM_OPENAI": "1000000",
            "MLCHAT_TPM_OPENAI": "1000000000",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("MLCHAT_")})
        assistant = Assistant(Settings.from_env(env, env_file=data_dir / "none.env"))
        if mode == "after-usage":
            _kill_after_usage_commit(assistant)
        thread = f"t{os.getpid()}"
        number = 0
        while True:
            number += 1
            async for event in assistant.run_turn(thread, f"message {number}"):
                if isinstance(event, TurnFinished):
                    print(f"ack {thread} {number}", flush=True)
            if mode != "loop":
                break
        await assistant.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
