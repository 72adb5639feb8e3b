"""Upload bombs: small files that decode huge are refused before they are decoded.

| attack | expected result | where it is enforced |
|---|---|---|
| 350 KB Parquet of a repeated 1 KB string, 3 GiB decoded | refused from metadata, one sentence naming the limit and MLCHAT_MAX_UPLOAD_MB | ``tools.input_limits.parquet_estimate`` via ``load_table`` |
| the same with no column statistics (metadata understates it) | refused while reading, after the limit's worth of batches | ``tools.input_limits.read_parquet_counted`` |
| ``mlchat profile`` on the bomb | refused, peak RSS of the command under 600 MB | the CLI passes ``MLCHAT_MAX_UPLOAD_MB`` to ``load_table`` |
| the bomb attached in the chat, then "profile" | the chat answers with the refusal | ``load_dataset`` with ``Settings.max_upload_mb`` |
| CSV with more cells than the limit allows | refused after counting lines, before parsing | ``tools.input_limits.delimited_estimate`` |
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tools.data import load_table
from tools.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
_ROWS_PER_GROUP = 1 << 20
_STRING_BYTES = 1000


def _parquet_bomb(
    path: Path, *, groups: int = 3, rows: int = _ROWS_PER_GROUP, statistics: bool = True
) -> Path:
    """A few hundred KB on disk: one long string and one number, repeated ``groups`` x ``rows``
    times.

    Written dictionary-encoded without the Arrow schema, so a reader gets plain
    strings back: about 1 KB decoded per row, 1 GiB per group of 1 Mi rows.
    """
    zeros = pa.array(np.zeros(rows, dtype=np.int32))
    table = pa.table(
        {
            "amount": pa.DictionaryArray.from_arrays(zeros, pa.array([7], pa.int64())),
            "note": pa.DictionaryArray.from_arrays(zeros, pa.array(["x" * _STRING_BYTES])),
        }
    )
    with pq.ParquetWriter(
        path, table.schema, store_schema=False, write_statistics=statistics
    ) as writer:
        for _ in range(groups):
            writer.write_table(table)
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _parquet_bomb(tmp_path_factory.mktemp("bombs") / "bomb.parquet")


def test_parquet_bomb_is_small_on_disk(bomb: Path) -> None:
    assert bomb.stat().st_size < 1 << 20
    assert pq.read_metadata(bomb).num_rows == 3 * _ROWS_PER_GROUP


def test_load_table_refuses_the_parquet_bomb_from_its_metadata(bomb: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_table(bomb)  # 1 GiB upload limit, so 2 GiB decoded
    message = str(caught.value)
    assert message == (
        "The file “bomb.parquet” would take about 3.0 GiB of memory once decoded, more than the "
        "2.0 GiB limit (twice MLCHAT_MAX_UPLOAD_MB; raise that setting, or attach a sample of "
        "the rows)."
    )


def test_the_limit_is_the_callers(tmp_path: Path) -> None:
    small = _parquet_bomb(tmp_path / "small.parquet", groups=1, rows=1 << 15)  # ~32 MiB decoded
    with pytest.raises(DataError, match=r"about 31\.6 MiB .* than the 16\.0 MiB limit"):
        load_table(small, max_decoded_bytes=16 << 20)
    loaded = load_table(small, max_decoded_bytes=64 << 20)
    assert loaded.frame.shape == (1 << 15, 2)
    assert loaded.frame["note"].iloc[-1] == "x" * _STRING_BYTES
    assert loaded.frame["amount"].sum() == 7 << 15


def test_parquet_without_statistics_is_refused_while_reading(tmp_path: Path) -> None:
    """No min/max: the metadata estimate is ~4 MB, the count while reading catches it."""
    hidden = _parquet_bomb(tmp_path / "hidden.parquet", groups=1, rows=1 << 18, statistics=False)
    with pytest.raises(DataError, match=r"more than the 64\.0 MiB limit"):
        load_table(hidden, max_decoded_bytes=64 << 20)


def test_csv_with_too_many_cells_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "commas.csv"
    header = ",".join(f"c{i}" for i in range(200))
    path.write_text(header + "\n" + ("," * 199 + "\n") * 20_000)
    with pytest.raises(DataError, match=r"once decoded, more than the 10\.0 MiB limit"):
        load_table(path, max_decoded_bytes=10 << 20)


def _peak_rss_mb_of(command: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``command`` in a child that reports its own peak RSS (ru_maxrss of its children)."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(done.stderr + done.stdout)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stdout.write(f'\\nPEAK_KB={peak} RC={done.returncode}\\n')\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    tail = completed.stdout.rsplit("PEAK_KB=", 1)
    peak_kb = int(tail[1].split()[0])
    return peak_kb // 1024, tail[0] + tail[1].split(" ", 1)[1]


def test_mlchat_profile_refuses_the_bomb_in_little_memory(bomb: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(bomb.parent)}
    peak_mb, output = _peak_rss_mb_of(
        [sys.executable, "-m", "assistant.cli", "profile", bomb.name], cwd=bomb.parent, env=env
    )
    assert "would take about 3.0 GiB of memory once decoded" in output
    assert "RC=2" in output
    assert peak_mb < 600, peak_mb


def test_mlchat_profile_honours_mlchat_max_upload_mb(tmp_path: Path) -> None:
    one = _parquet_bomb(tmp_path / "one.parquet", groups=1)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "MLCHAT_MAX_UPLOAD_MB": "100",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "profile", one.name],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert "more than the 200.0 MiB limit (twice MLCHAT_MAX_UPLOAD_MB" in completed.stderr


@pytest.mark.asyncio
async def test_the_chat_refuses_the_bomb_on_profile(bomb: Path, tmp_path: Path) -> None:
    from assistant.events import TextDelta, ToolFinished
    from assistant.session import Assistant
    from assistant.settings import Settings

    settings = Settings.from_env({"MLCHAT_DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none")
    assistant = Assistant(settings)
    try:
        record = assistant.attach_file("bombed", bomb)
        events = [
            e async for e in assistant.run_turn("bombed", "profile this file", attachments=[record])
        ]
    finally:
        await assistant.close()
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    shown += "".join(e.summary for e in events if isinstance(e, ToolFinished))
    assert "would take about 3.0 GiB of memory once decoded" in shown, shown
    assert "2.0 GiB limit (twice MLCHAT_MAX_UPLOAD_MB" in shown
