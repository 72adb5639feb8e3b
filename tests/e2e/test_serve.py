"""``assistant.serve.serve`` starts the app from any folder and prints a login that works."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

from tests.e2e.conftest import READY_LINE, ROOT, free_port, wait_until_listening

pytestmark = pytest.mark.e2e


def test_serve_prints_a_login_that_works_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("MLCHAT_PASSWORD", None)
    env.pop("CHAINLIT_AUTH_SECRET", None)
    env.update(MLCHAT_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    code = f"from assistant.serve import serve; raise SystemExit(serve(port={port}, headless=True))"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,  # not the project folder: serve must find chat_app.py and its config
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if READY_LINE in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(90) and process.poll() is None, "".join(lines)[-3000:]
        wait_until_listening(port)
        printed = "".join(lines)
        match = re.search(r"log in as “(\w+)” with the password in (.+)\.\n", printed)
        assert match is not None, printed
        user, kept_in = match.groups()
        assert Path(kept_in) == tmp_path / "data" / "auth" / "password"
        password = Path(kept_in).read_text().strip()
        assert password not in printed

        for candidate, expected in ((password, 200), (password + "x", 401)):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            body = urllib.parse.urlencode({"username": user, "password": candidate})
            conn.request(
                "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
            )
            response = conn.getresponse()
            response.read()
            conn.close()
            assert response.status == expected
            assert (response.getheader("set-cookie") is not None) == (expected == 200)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)
    assert exit_code in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    with pytest.raises(ConnectionRefusedError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")
    assert not list(tmp_path.glob(".files")), "Chainlit's upload folder must not land in the cwd"
