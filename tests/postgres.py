"""A throwaway PostgreSQL server on a loopback port, for tests that target PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _postgres_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server(prefix: str) -> Iterator[str]:
    """Start a server in a temporary folder and yield its URL; stop and remove it after.

    Skips the calling test, with the reason, where the server binaries (or, as root, the
    ``postgres`` account to run them) are missing.
    """
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix=prefix))
    run_as: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' account to run the server")
        os.chown(base, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    subprocess.run([*run_as, *initdb, "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options]
    log_file = ["-l", str(base / "server.log")]
    subprocess.run(
        [*run_as, *pg_ctl, *log_file, "-w", "-t", "60", "start"], check=True, capture_output=True
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One throwaway PostgreSQL server for the whole test session (started on first use)."""
    with postgres_server(f"mlchat-pg-{os.getpid()}-") as url:
        yield url


def new_database(server_url: str) -> str:
    """Create an empty database on the server and return its URL (one per test: no leftovers)."""
    import uuid

    import sqlalchemy

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg2://", 1),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name
