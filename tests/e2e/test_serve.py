"""``assistant.cli.serve.serve`` starts the app from any folder and prints a login that works."""

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
from playwright.sync_api import Browser, expect

from assistant.login_link import LOGIN_LINK_PATH
from tests.e2e.conftest import READY_LINE, ROOT, WELCOME, free_port, wait_until_listening

pytestmark = pytest.mark.e2e


class _Served:
    """``serve()`` from ``assistant.cli.serve`` in a child process, its output collected."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.pop("MLCHAT_PASSWORD", None)
        env.pop("CHAINLIT_AUTH_SECRET", None)
        env.update(
            MLCHAT_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"
        )
        code = (
            "from assistant.cli.serve import serve; "
            f"raise SystemExit(serve(port={self.port}, headless=True))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=tmp_path,  # not the project folder: serve must find chat_app.py and its config
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.until_link = ""
        self.link_printed = threading.Event()
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if READY_LINE in line:
                self.ready.set()
            if LOGIN_LINK_PATH in line and not self.link_printed.is_set():
                self.until_link = "".join(self.lines)
                self.link_printed.set()
        self.ready.set()
        self.link_printed.set()

    @property
    def printed(self) -> str:
        return "".join(self.lines)

    def link(self) -> str:
        """The one-click link, once printed."""
        assert self.link_printed.wait(90) and self.process.poll() is None, self.printed[-3000:]
        match = re.search(r"^ {4}(http://\S+)$", self.printed, re.MULTILINE)
        assert match is not None, self.printed
        return match.group(1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def test_serve_prints_a_login_that_works_and_stops_on_sigterm(tmp_path: Path) -> None:
    served = _Served(tmp_path)
    port, lines, ready, process = served.port, served.lines, served.ready, served.process
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
        exit_code = served.stop()
    assert exit_code in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    with pytest.raises(ConnectionRefusedError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")
    assert not list(tmp_path.glob(".files")), "Chainlit's upload folder must not land in the cwd"


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_printed_link_logs_in_once_and_wrong_tokens_are_rate_limited(
    tmp_path: Path, browser: Browser
) -> None:
    served = _Served(tmp_path)
    try:
        link = served.link()
        token = link.split("token=", 1)[1]
        assert link.startswith(f"http://127.0.0.1:{served.port}{LOGIN_LINK_PATH}?token=")
        # What the start command shows ends in the link, after Chainlit's own banner.
        assert served.until_link.rstrip().endswith(link)
        assert READY_LINE in served.until_link

        first = browser.new_context()
        page = first.new_page()
        page.goto(link)
        expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)
        expect(page.locator("[data-step-type='assistant_message']").first).to_contain_text(WELCOME)
        assert token not in page.url
        page.goto(link)  # a spent link in a logged-in browser just opens the chat
        expect(page.locator("#chat-input")).to_be_visible()
        first.close()

        second = browser.new_context()
        refused = second.new_page()
        response = refused.goto(link)
        assert response is not None and response.status == 401
        expect(refused.locator("body")).to_contain_text("already been used")
        refused.get_by_text("Log in with the user name and password").click()
        expect(refused.locator("#password")).to_be_visible()
        second.close()

        statuses = [_status(served.port, f"{LOGIN_LINK_PATH}?token=guess{i}") for i in range(6)]
        # The spent link above was the first failure: four guesses more and the address waits.
        assert statuses == [401, 401, 401, 401, 429, 429]
    finally:
        served.stop()
    assert served.printed.count(token) == 1  # printed once, never logged
    logged = [p for p in (tmp_path / "data").rglob("*") if p.is_file() and p.suffix == ".log"]
    assert all(token not in p.read_text(errors="replace") for p in logged)
