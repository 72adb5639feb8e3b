"""Elements stored by one app instance are served by another through an object-store URL."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec

from ui.mirrored_storage import MirroredStorageClient


def _url() -> str:
    return f"memory://mlchat-{uuid.uuid4().hex}"


async def test_an_element_stored_by_one_instance_is_served_by_another(tmp_path: Path) -> None:
    url = _url()
    first = MirroredStorageClient(tmp_path / "a" / "files", url)
    second = MirroredStorageClient(tmp_path / "b" / "files", url)
    stored = await first.upload_file("u1/e1/ROC curve", b'{"data": []}', mime="application/json")

    assert second.stored_file(stored["object_key"]) is None  # not here until fetched
    await second.fetch(stored["object_key"])

    found = second.stored_file(stored["object_key"])
    assert found is not None and found.read_bytes() == b'{"data": []}'
    assert found.is_relative_to(tmp_path / "b" / "files")
    assert second.stored_mime(found) == "application/json"


async def test_a_deleted_element_is_gone_from_the_object_store_too(tmp_path: Path) -> None:
    url = _url()
    first = MirroredStorageClient(tmp_path / "a" / "files", url)
    second = MirroredStorageClient(tmp_path / "b" / "files", url)
    stored = await first.upload_file("u1/e2/model.joblib", b"bytes")

    assert await first.delete_file(stored["object_key"]) is True
    await second.fetch(stored["object_key"])

    assert second.stored_file(stored["object_key"]) is None


async def test_a_remote_name_cannot_place_a_file_outside_the_local_folder(tmp_path: Path) -> None:
    url = _url()
    fs, root = fsspec.url_to_fs(url)
    fs.pipe_file(f"{root}/.chat-files/u1/../../escape.txt", b"planted")
    storage = MirroredStorageClient(tmp_path / "files", url)

    await storage.fetch("u1/../../escape.txt")

    assert not (tmp_path / "escape.txt").exists()
    everything = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(tmp_path / "files") for p in everything)


def test_only_an_object_store_workspace_url_mirrors_the_elements(tmp_path: Path) -> None:
    from assistant.settings import Settings

    def settings(url: str) -> Settings:
        env = {"MLCHAT_DATA_DIR": str(tmp_path), "MLCHAT_WORKSPACE_URL": url}
        return Settings.from_env(env, env_file=tmp_path / "none.env")

    assert settings("s3://bucket/mlchat").chat_files_url == "s3://bucket/mlchat"
    assert settings(f"file://{tmp_path}/shared").chat_files_url is None
    assert settings(str(tmp_path / "shared")).chat_files_url is None
    assert (
        settings(f"file://{tmp_path}/shared").chat_files_dir == tmp_path / "shared" / ".chat-files"
    )
