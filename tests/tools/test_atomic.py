"""Atomic writes: all of the new file or none of it, and never through a planted link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.io.atomic import open_atomic, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.joblib"
    target.write_bytes(b"old model")
    with pytest.raises(RuntimeError), open_atomic(target) as out:
        out.write(b"half a new mo")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.joblib"]


def test_text_is_utf8_and_replaces_the_file_when_done(tmp_path: Path) -> None:
    target = tmp_path / "predictions.csv"
    with open_atomic(target, text=True) as out:
        out.write("a,b\r\n€,1\r\n")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_bytes() == "a,b\r\n€,1\r\n".encode()
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_link_at_the_name_is_replaced_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("keep me")
    folder = tmp_path / "run"
    folder.mkdir()
    os.symlink(outside, folder / "model_card.md")
    write_text_atomic(folder / "model_card.md", "# card")
    assert outside.read_text() == "keep me"
    assert not (folder / "model_card.md").is_symlink()
    assert (folder / "model_card.md").read_text() == "# card"
