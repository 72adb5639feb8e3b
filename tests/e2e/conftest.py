"""Browser end-to-end fixtures: the real Chainlit server and Debian's Chromium.

The server is ``chainlit run chat_app.py -h --ci`` on a free loopback port,
with its own data folder in tmp and the offline defaults (no provider keys,
local sandbox). It counts as ready when it prints that the app is available.
Playwright drives ``/usr/bin/chromium`` headless; it never downloads a browser.
Screenshots go to ``artifacts/screenshots/`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
READY_LINE = "Your app is available at"
USER = "mlchat"
PASSWORD = "e2e-password-7f3a"
WELCOME = "I train machine-learning models on the files you attach"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_SECRET_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "E2B_API_KEY",
    "MLCHAT_DATABASE_URL",
    "DATABASE_URL",
    "CHAINLIT_AUTH_SECRET",
    "MLCHAT_USER",
)

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, *, timeout_s: float = 30.0) -> None:
    """Return once 127.0.0.1:``port`` accepts a connection.

    Chainlit prints that the app is available from its startup hook, a moment
    before uvicorn binds the socket.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            threading.Event().wait(0.05)


class ChainlitServer:
    """``chainlit run chat_app.py`` as a child process on a loopback port.

    Args:
        data_dir: ``MLCHAT_DATA_DIR`` for the server; kept across restarts.
        log_path: Where the server's output is written.
        env: Extra environment variables (e.g. a key and base URL of a fake provider).
        serve: Start it as users do, ``mlchat serve --headless`` from outside the project
            folder (it runs Chainlit as its child), instead of ``chainlit run``.
    """

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        serve: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_env = dict(env or {})
        self.serve = serve
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SECRET_VARIABLES}
        env.update(
            MLCHAT_DATA_DIR=str(self.data_dir),
            MLCHAT_PROVIDER="offline",
            MLCHAT_SANDBOX="local",
            MLCHAT_PASSWORD=PASSWORD,
            MLCHAT_BUDGET_S="5",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, *, timeout_s: float = 90.0) -> None:
        """Start the server and return once it says the app is available."""
        self.port = free_port()
        if self.serve:
            command = [str(Path(sys.executable).parent / "mlchat"), "serve", "--headless"]
        else:
            command = [sys.executable, "-m", "chainlit", "run", "chat_app.py", "-h", "--ci"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            command,
            cwd=self.data_dir.parent if self.serve else ROOT,
            env=self._environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        log = self.log_path.open("a", encoding="utf-8")

        def pump(stream: Iterator[str]) -> None:
            for line in stream:
                log.write(line)
                log.flush()
                if READY_LINE in line:
                    ready.set()
            log.close()
            ready.set()  # the process ended: let the waiter look at why

        assert self.process.stdout is not None
        threading.Thread(target=pump, args=(self.process.stdout,), daemon=True).start()
        if not ready.wait(timeout_s) or self.process.poll() is not None:
            self.stop()
            tail = self.log_path.read_text(encoding="utf-8")[-3000:]
            raise RuntimeError(f"Chainlit did not start within {timeout_s} s:\n{tail}")
        wait_until_listening(self.port)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 15 s)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same data folder (a new port)."""
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def server() -> Iterator[ChainlitServer]:
    """One real Chainlit server per test module, with its own data folder.

    The folder is not under pytest's basetemp, which another pytest run on
    the same machine may rotate away while the server still writes to it.
    """
    base = Path(tempfile.mkdtemp(prefix="mlchat-e2e-"))
    chainlit_server = ChainlitServer(base / "data", base / "server.log")
    chainlit_server.start()
    yield chainlit_server
    chainlit_server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright.

    Module-scoped on purpose: sync Playwright keeps an event loop running in
    the main thread while it is open, and pytest-asyncio cannot run the async
    tests of later modules under it.
    """
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed: apt-get install chromium (scripts/test does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page; a screenshot is kept on failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    new_page = context.new_page()
    yield new_page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        screenshot(new_page, request.node.name, "failed")
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def screenshot(page: Page, test_name: str, step: str) -> Path:
    """Save a full-page screenshot as ``artifacts/screenshots/<test>-<step>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{test_name}-{step}")
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, server: ChainlitServer) -> None:
    """Open the app and log in with the local default account."""
    page.goto(server.url)
    page.fill("#email", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#chat-input")
    # Connected once on_chat_start's welcome arrives; typing earlier can be lost.
    welcome = page.locator("[data-step-type='assistant_message']").first
    expect(welcome).to_contain_text(WELCOME)


def send_message(page: Page, text: str) -> None:
    """Type ``text`` in the chat box and send it once the send button is enabled."""
    page.fill("#chat-input", text)
    expect(page.locator("#chat-submit")).to_be_enabled()
    page.click("#chat-submit")
