"""Run owners: a live process is recognised, a dead or reused pid is not."""

from __future__ import annotations

import socket
import subprocess
import sys

from assistant.processes import current_owner, owner_alive, run_owner


def test_this_process_is_alive_and_a_reused_pid_or_a_finished_one_is_not() -> None:
    me = current_owner()
    pid, start = me.split(":")
    assert owner_alive(me)
    assert not owner_alive(f"{pid}:{int(start) + 1}")  # same pid, another process
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    assert not owner_alive(f"{child.stdout.strip()}:1")
    assert not owner_alive(None) and not owner_alive("") and not owner_alive("x:y")


def test_an_owner_on_another_host_is_left_alone_and_one_here_is_checked() -> None:
    assert owner_alive(run_owner())
    assert owner_alive("1:1@another-machine")  # only that machine can tell
    assert not owner_alive(f"1:1@{socket.gethostname()}")
