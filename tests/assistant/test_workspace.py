"""The workspace door: safe names, no links followed, no escapes, atomic writes, copy-out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.workspace import Workspace, read_user_file, safe_file_name
from tools.errors import UserFacingError
from tools.io import safe_files


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("churn.csv", "churn.csv"),
        ("../../etc/evil.csv", "evil.csv"),
        ("/abs/path/x.parquet", "x.parquet"),
        ("C:\\Users\\me\\sales.xlsx", "sales.xlsx"),
        ("a\x00b.csv", "ab.csv"),
        (".bashrc", "bashrc"),
        ("..", "upload.csv"),
        ("", "upload.csv"),
    ],
)
def test_safe_file_name(name: str, safe: str) -> None:
    assert safe_file_name(name) == safe


def test_a_long_name_is_cut_in_bytes_and_keeps_its_suffix(tmp_path: Path) -> None:
    name = "€" * 300 + ".csv"
    safe = safe_file_name(name)
    assert safe.endswith(".csv")
    assert len(safe.encode()) <= 200
    source = tmp_path / "in.csv"
    source.write_text("a\n1\n")
    stored = Workspace.at(tmp_path / "ws").add_upload(source, name)  # no ENAMETOOLONG
    assert stored.read_text() == "a\n1\n"


def test_uploads_stay_in_the_workspace_and_never_overwrite(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path / "data" / "workspaces" / "t1")
    first_source, second_source = tmp_path / "a.bin", tmp_path / "b.bin"
    first_source.write_bytes(b"x,y\n1,2\n")
    second_source.write_bytes(b"x,y\n3,4\n")
    first = workspace.add_upload(first_source, "../../../evil.csv")
    again = workspace.add_upload(first_source, "evil.csv")
    second = workspace.add_upload(second_source, "evil.csv")
    assert first == workspace.uploads / "evil.csv" == again  # same content: reused
    assert second == workspace.uploads / "evil-2.csv"
    assert first.read_bytes() == b"x,y\n1,2\n"
    assert not (tmp_path / "evil.csv").exists()
    assert oct(workspace.root.stat().st_mode & 0o777) == "0o700"


def test_an_upload_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path / "ws")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"old")
    (workspace.uploads / "data.csv").symlink_to(victim)
    source = tmp_path / "new.csv"
    source.write_bytes(b"new")
    saved = workspace.add_upload(source, "data.csv")
    assert saved == workspace.uploads / "data-2.csv"
    assert victim.read_bytes() == b"old"


def test_a_linked_upload_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "ws"
    root.mkdir()
    (root / "uploads").symlink_to(elsewhere)
    source = tmp_path / "a.csv"
    source.write_bytes(b"a")
    with pytest.raises(UserFacingError, match="link"):
        Workspace.at(root).add_upload(source, "a.csv")
    assert list(elsewhere.iterdir()) == []


def test_reads_refuse_links_special_files_scratch_and_escapes(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path / "ws")
    secret = tmp_path / "secret.txt"
    secret.write_text("canary-secret")
    run = workspace.run_dir("r1")
    (run / "model_card.md").symlink_to(secret)
    os.mkfifo(run / "fifo.md")
    workspace.scratch.mkdir()
    (workspace.scratch / "note.txt").write_text("from the sandbox")
    for path in (run / "model_card.md", run / "fifo.md", workspace.scratch / "note.txt"):
        with pytest.raises(UserFacingError):
            workspace.read_bytes(path)
        assert not workspace.servable(path)
    with pytest.raises(UserFacingError):
        workspace.read_bytes(workspace.root / "runs" / ".." / ".." / "secret.txt")
    (workspace.root / "runs" / "r2").symlink_to(tmp_path)
    with pytest.raises(UserFacingError):
        workspace.read_bytes(workspace.root / "runs" / "r2" / "secret.txt")


def test_writes_replace_a_planted_link_instead_of_following_it(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path / "ws")
    victim = tmp_path / "victim.txt"
    victim.write_text("old")
    (workspace.root / "figures" / "f.png").symlink_to(victim)
    workspace.write_bytes(Path("figures") / "f.png", b"\x89PNG")
    assert victim.read_text() == "old"
    assert (workspace.root / "figures" / "f.png").read_bytes() == b"\x89PNG"
    assert not (workspace.root / "figures" / "f.png").is_symlink()
    assert [p.name for p in (workspace.root / "figures").iterdir()] == ["f.png"]  # no temp left


def test_copy_out_takes_only_regular_files_of_allowed_types(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path / "ws")
    workspace.scratch.mkdir()
    (workspace.scratch / "result.csv").write_text("a,b\n-1,=2+3\n")
    (workspace.scratch / "fake.png").write_text("not a png")
    (workspace.scratch / "big.csv").write_text("x" * 2000)
    (workspace.scratch / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    (workspace.scratch / "run.sh").write_text("echo hi")
    copied = workspace.copy_out("result.csv", max_bytes=1000)
    assert copied == workspace.root / "outputs" / "result.csv"
    assert workspace.read_text(copied) == '"a","b"\n-1,"\'=2+3"\n'  # text quoted, formula defused
    for name in ("fake.png", "big.csv", "link.csv", "run.sh", "../uploads/x.csv"):
        with pytest.raises(UserFacingError):
            workspace.copy_out(name, max_bytes=1000)


def test_read_user_file_serves_app_folders_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    workspace = Workspace.at(data / "workspaces" / "t1")
    card = workspace.write_bytes(Path("runs") / "r1" / "model_card.md", b"# card")
    (data / "auth").mkdir()
    (data / "auth" / "password").write_text("hunter2")
    assert read_user_file(data, card) == b"# card"
    for path in (
        data / "auth" / "password",
        data / "workspaces" / "t1" / ".." / ".." / "auth" / "password",
        data / "mlchat.db",
    ):
        with pytest.raises(UserFacingError):
            read_user_file(data, path)


def test_safe_files_write_new_never_overwrites(tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(b"1")
    assert safe_files.write_new(tmp_path, "x", source) == tmp_path / "x"
    assert safe_files.write_new(tmp_path, "x", source) is None
