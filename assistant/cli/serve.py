"""Start the chat app: prepare the data folder and its secrets, then run Chainlit.

Local default login (replace it for a shared deployment):

- user ``mlchat`` (``MLCHAT_USER`` to change it);
- password from ``MLCHAT_PASSWORD``; when unset, one is generated on first
  start into ``<data>/auth/password`` (mode 0600), whose path :func:`serve`
  prints (the password itself is never printed or logged, since service
  managers keep stdout);
- the one-click link :func:`serve` prints once the server listens (a
  one-time token, :mod:`assistant.login_link`);
- the cookie-signing secret ``CHAINLIT_AUTH_SECRET`` is taken from the
  environment, else generated into ``<data>/auth/chainlit-secret``.

Password auth was chosen over header auth because it works in a plain
browser with no proxy in front, and Playwright drives it through the normal
login form. A deployer replaces it with OAuth or ``@cl.header_auth_callback``
in ``chat_app.py``.

This module does not import Chainlit; it starts it as a child process.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.login_link import draw_link
from assistant.private_files import restrict_data_dir, restrict_new_files
from assistant.processes import die_with_parent
from assistant.settings import Settings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding ``chat_app.py`` and ``.chainlit/config.toml``."""

CHAT_APP = PROJECT_ROOT / "chat_app.py"
DEFAULT_USER = "mlchat"


@dataclass(frozen=True, slots=True)
class LocalLogin:
    """The one local account that the default password auth accepts."""

    username: str
    password: str = field(repr=False)
    password_file: Path | None
    """Where the generated password is kept; ``None`` when it came from ``MLCHAT_PASSWORD``."""

    def accepts(self, username: str, password: str) -> bool:
        """Whether the pair matches, compared in constant time."""
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok


def _read_or_create_secret(path: Path, *, n_bytes: int) -> str:
    """The secret stored in ``path``, generated (mode 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(n_bytes)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    log.info("secret_created file=%s", path.name)
    return value


def prepare_data_dir(settings: Settings, environ: dict[str, str] | None = None) -> LocalLogin:
    """Create the data folder, set ``CHAINLIT_AUTH_SECRET`` and return the local login.

    Args:
        settings: Where the data folder is.
        environ: The environment to read and update (default ``os.environ``).
    """
    env = os.environ if environ is None else environ
    restrict_data_dir(settings.data_dir)
    auth_dir = settings.data_dir / "auth"
    if not env.get("CHAINLIT_AUTH_SECRET"):
        env["CHAINLIT_AUTH_SECRET"] = _read_or_create_secret(
            auth_dir / "chainlit-secret", n_bytes=48
        )
    username = env.get("MLCHAT_USER") or DEFAULT_USER
    if env.get("MLCHAT_PASSWORD"):
        return LocalLogin(username, env["MLCHAT_PASSWORD"], None)
    password_file = auth_dir / "password"
    return LocalLogin(username, _read_or_create_secret(password_file, n_bytes=12), password_file)


def chainlit_command(
    *, host: str = "127.0.0.1", port: int = 8000, headless: bool = False, ci: bool = False
) -> list[str]:
    """The ``chainlit run`` command line for our app."""
    command = [sys.executable, "-m", "chainlit", "run", str(CHAT_APP), "--host", host]
    command += ["--port", str(port)]
    if headless:
        command.append("--headless")
    if ci:
        command.append("--ci")
    return command


def serve(
    settings: Settings | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    headless: bool = False,
) -> int:
    """Run the chat app in the foreground until it exits; return its exit code.

    Prints (CLI output) where the password is and, once the server listens, the
    one-click login link (:mod:`assistant.login_link`), which it also opens in a
    browser unless ``headless``. Run from anywhere: the
    server's working directory is the project folder, where Chainlit finds
    ``.chainlit/config.toml``. Of ``settings`` only ``data_dir`` is passed on
    (as ``MLCHAT_DATA_DIR``); the app reads everything else from the
    environment, as ``chainlit run chat_app.py`` would. SIGTERM is forwarded.
    """
    restrict_new_files()
    settings = settings or Settings.from_env()
    login = prepare_data_dir(settings)
    link = draw_link()
    env = dict(os.environ)
    env["MLCHAT_DATA_DIR"] = str(settings.data_dir)
    env.update(link.server_environment())
    base_url = f"http://{_local_host(host)}:{port}"
    print(f"mlchat data folder: {settings.data_dir}")
    where = login.password_file or "MLCHAT_PASSWORD"
    print(f"From another browser, log in as “{login.username}” with the password in {where}.")
    # Chainlit would open the bare URL (the login form): we open the one-click link instead.
    command = chainlit_command(host=host, port=port, headless=True)
    # SIGTERM to Chainlit if this process is killed outright: no server left without its parent.
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, preexec_fn=lambda: die_with_parent(signal.SIGTERM)
    )
    threading.Thread(
        target=_announce_link,
        args=(process, link.url(base_url), port),
        kwargs={"open_browser": not headless},
        name="login-link",
        daemon=True,
    ).start()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = None
    if in_main_thread:
        # A service manager stops us with SIGTERM: pass it on so Chainlit is not orphaned.
        previous = signal.signal(signal.SIGTERM, lambda signum, _frame: process.send_signal(signum))
    try:
        code = process.wait()
    except KeyboardInterrupt:  # the terminal sent SIGINT to Chainlit too
        code = process.wait()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N


def _local_host(host: str) -> str:
    """The host to put in a printed URL: loopback for the wildcard addresses."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _announce_link(
    process: subprocess.Popen[bytes], url: str, port: int, *, open_browser: bool
) -> None:
    """Once the server accepts connections, print the one-click link (last, so the start
    command's output ends in it) and open it in a browser when asked and one can be shown."""
    while process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            threading.Event().wait(0.2)
    else:
        return
    print(
        f"\nmlchat is ready. Open this link to log in (it works once, for 10 minutes):\n\n    {url}\n",
        flush=True,
    )
    if open_browser and _can_show_a_browser():
        webbrowser.open(url)


def _can_show_a_browser() -> bool:
    """A graphical session exists (no text browser takes over the terminal and the link)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def add_serve(commands: Any) -> None:
    """Register ``mlchat serve`` on the CLI's subcommand tree."""
    parser = commands.add_parser(
        "serve",
        help="start the chat app in the browser (Chainlit) on the offline defaults",
        description=(
            "Start the mlchat chat app. It prints the URL and where the login password is. "
            "Settings (keys, sandbox, budget, data folder) come from the environment or .env."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--headless", action="store_true", help="do not open a browser window")
    parser.set_defaults(
        handler=lambda args: serve(host=args.host, port=args.port, headless=args.headless)
    )
