"""Upload bombs: small files that decode huge are refused before they are decoded.

| attack | expected result | where it is enforced |
|---|---|---|
| 350 KB Parquet of a repeated 1 KB string, 3 GiB decoded | refused from metadata, one sentence naming the limit and MLCHAT_MAX_UPLOAD_MB | ``tools.io.input_limits.parquet_estimate`` via ``load_table`` |
| the same with no column statistics (metadata understates it) | refused while reading, after the limit's worth of batches | ``tools.io.input_limits.read_parquet_counted`` |
| ``mlchat profile`` on the bomb | refused, peak RSS of the command under 600 MB | the CLI passes ``MLCHAT_MAX_UPLOAD_MB`` to ``load_table`` |
| the bomb attached in the chat, then "profile" | the chat answers with the refusal | ``load_dataset`` with ``Settings.max_upload_mb`` |
| CSV with more cells than the limit allows | refused after counting lines, before parsing | ``tools.io.input_limits.delimited_estimate`` |
| 1.5 KB xlsx whose one far cell (``CV1048576``) spans 100M cells | the reading child hits its memory cap; one sentence naming the limit; the app process stays small | ``tools.io.excel_child.read_in_child`` (``RLIMIT_AS``, ``PR_SET_PDEATHSIG``, 120 s) |
| ``mlchat profile`` on that xlsx | refused, peak RSS of the command itself under 600 MB | the same, the CLI passing ``MLCHAT_MAX_UPLOAD_MB`` |
| xlsx with 20,000 zip members | refused from the zip directory, nothing unpacked | ``tools.io.excel_child.check_zip_directory`` |
| a normal workbook too big for the in-process path (inline XML, and one openpyxl wrote: shared strings, dates, two sheets) | read by the child with the same frame, types and notes as in process | ``tools.io.excel_child.to_arrow`` (Arrow IPC back) |
"""

from __future__ import annotations

import datetime
import logging
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tools.errors import DataError
from tools.io.load import load_table

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


def _run(command: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=env, timeout=180, check=False
    )


def _peak_self_mb(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``mlchat`` in a fresh interpreter: (its own peak RSS in MB, its output).

    Its own, not its children's: the Excel child may grow up to its cap. Read from
    VmHWM, not ru_maxrss, which carries the forking parent's size across exec.
    """
    runner = (
        "import sys\n"
        "from assistant.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "me = int(status.split()[0]) // 1024\n"
        "print(f'\\nPEAK_SELF_MB={me} RC={code}')\n"
    )
    done = _run([sys.executable, "-c", runner, *argv], cwd=cwd, env=env)
    peak = done.stdout.rsplit("PEAK_SELF_MB=", 1)[1].split()[0]
    return int(peak), done.stdout + done.stderr


def test_mlchat_profile_refuses_the_bomb_in_little_memory(bomb: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(bomb.parent)}
    peak_mb, output = _peak_self_mb(["profile", bomb.name], cwd=bomb.parent, env=env)
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
    completed = _run(
        [sys.executable, "-m", "assistant.cli", "profile", one.name], cwd=tmp_path, env=env
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


# --- Excel --------------------------------------------------------------------------------

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _cell(column: int, row: int, value: object) -> str:
    ref = ""
    while column:
        column, rest = divmod(column - 1, 26)
        ref = chr(65 + rest) + ref
    ref += str(row)
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def _workbook(path: Path, rows: list[list[object]], *, extra: str = "", members: int = 0) -> Path:
    """A minimal .xlsx written as XML (fast, no writer library): one sheet named Data."""
    body = "".join(
        f'<row r="{r}">' + "".join(_cell(c, r, v) for c, v in enumerate(row, 1)) + "</row>"
        for r, row in enumerate(rows, 1)
    )
    sheet = f'<worksheet xmlns="{_MAIN}"><sheetData>{body}{extra}</sheetData></worksheet>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
            'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.worksheet+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" Type="{_DOC}/officeDocument"'
            ' Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><sheets>'
            '<sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" Type="{_DOC}/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>',
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        for index in range(members):
            archive.writestr(f"xl/media/pad{index}.xml", "")
    return path


def _dense_bomb(path: Path) -> Path:
    """1.5 KB: two rows, then one cell at CV1048576, so the used range is 100M cells."""
    far = '<row r="1048576"><c r="CV1048576"><v>3</v></c></row>'
    return _workbook(path, [["a", "b"], [1, 2]], extra=far)


def test_xlsx_dense_range_bomb_is_refused_by_the_childs_memory_cap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bomb = _dense_bomb(tmp_path / "dense.xlsx")
    assert bomb.stat().st_size < 4096
    with (
        caplog.at_level(logging.INFO, logger="tools.io.excel_child"),
        pytest.raises(DataError) as caught,
    ):
        load_table(bomb, max_decoded_bytes=64 << 20)
    assert str(caught.value) == (
        "The workbook “dense.xlsx” needed more than the 512.0 MiB of memory allowed for reading "
        "a workbook (twice the decoded-table limit; raise MLCHAT_MAX_UPLOAD_MB, or save the sheet "
        "you need as CSV and attach that)."
    )
    assert "excel_child exit=" in caplog.text  # it was the child, not this process, that failed


def test_xlsx_with_too_many_parts_is_refused_from_its_directory(tmp_path: Path) -> None:
    crowded = _workbook(tmp_path / "crowded.xlsx", [["a", "b"], [1, 2]], members=10_001)
    with pytest.raises(DataError, match=r"holds 10,006 parts, more than the 10,000"):
        load_table(crowded)


def test_mlchat_profile_refuses_the_xlsx_bomb_in_little_memory(tmp_path: Path) -> None:
    _dense_bomb(tmp_path / "dense.xlsx")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "MLCHAT_MAX_UPLOAD_MB": "64",
    }
    me_mb, output = _peak_self_mb(["profile", "dense.xlsx"], cwd=tmp_path, env=env)
    assert "needed more than the 512.0 MiB of memory allowed for reading a workbook" in output
    assert "RC=2" in output
    assert me_mb < 600, output
    assert "excel_child_failed exit=" in output  # the capped child failed, not this process


def _varied_rows(n_rows: int) -> list[list[object]]:
    rng = np.random.default_rng(3)
    rows: list[list[object]] = [["id", "amount", "plan", "active", "mixed", "score", "joined"]]
    for i in range(n_rows):
        rows.append(
            [
                i,
                round(float(rng.normal(100, 30)), 2) if i % 7 else None,
                ["basic", "plus", "pro"][i % 3],
                bool(i % 2),
                [1, "two", 3.5, None][i % 4],
                "yes" if i % 5 else "no",
                f"2024-01-{1 + i % 28:02d}",
            ]
        )
    return rows


def test_a_normal_workbook_reads_the_same_in_the_child(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = _varied_rows(12_000)
    small = _workbook(tmp_path / "small.xlsx", rows[:41])  # in process: tiny and bounded
    large = _workbook(tmp_path / "large.xlsx", rows)  # > 1 MiB of XML: read in the child
    with caplog.at_level(logging.INFO, logger="tools.io.excel_child"):
        in_process = load_table(small)
        assert "excel_child exit" not in caplog.text
        in_child = load_table(large)
        assert "excel_child exit=0" in caplog.text
    assert in_child.notes == in_process.notes
    assert (
        (in_child.sheet, in_child.sheets)
        == (in_process.sheet, in_process.sheets)
        == (
            "Data",
            ("Data",),
        )
    )
    assert in_child.frame.shape == (12_000, 7)
    pd.testing.assert_frame_equal(in_child.frame.head(40), in_process.frame)
    assert in_process.notes  # typed from text: the comparison covers real work


def test_a_json_lines_record_longer_than_16_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": "' + "y" * (17 << 20) + '"}\n')
    with pytest.raises(DataError, match=r"Line 2 of “long\.jsonl” is longer than the 16\.0 MiB"):
        load_table(path)


def _excel_written(path: Path, n_rows: int) -> Path:
    """A workbook as Excel writers make it: shared strings, dates, a title row, two sheets."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sales"
    sheet.append(["Report 2024"])
    sheet.append(["id", "when", "amount", "plan", "flag", "mixed", "pct"])
    start = datetime.datetime(2024, 1, 1)
    for i in range(n_rows):
        sheet.append(
            [
                i,
                start + datetime.timedelta(days=i % 300),
                1.5 * i if i % 9 else None,
                ["basic", "plus", "pro"][i % 3],
                i % 2 == 0,
                [1, "two", 3.5, None, datetime.date(2024, 2, 1)][i % 5],
                f"{i % 100}%",
            ]
        )
    workbook.create_sheet("Other").append(["x"])
    workbook.save(path)
    return path


def test_an_excel_written_workbook_reads_the_same_in_the_child(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    small = _excel_written(tmp_path / "small.xlsx", 40)
    large = _excel_written(tmp_path / "large.xlsx", 12_000)
    with caplog.at_level(logging.INFO, logger="tools.io.excel_child"):
        in_process = load_table(small)
        assert "excel_child exit" not in caplog.text
        in_child = load_table(large)
        assert "excel_child exit=0" in caplog.text
    assert in_child.notes == in_process.notes
    assert "Parsed 'when' as dates (like 2024-01-31)." in in_child.notes
    assert (in_child.sheet, in_child.sheets) == ("Sales", ("Sales", "Other"))
    assert in_child.frame.shape == (12_000, 7)
    pd.testing.assert_frame_equal(in_child.frame.head(40), in_process.frame)


def test_a_workbook_that_reads_too_long_is_stopped(tmp_path: Path) -> None:
    from tools.io.excel_child import read_in_child

    book = _workbook(tmp_path / "slow.xlsx", [["a", "b"], [1, 2]])
    with pytest.raises(DataError) as caught:
        read_in_child(
            book,
            file_name="slow.xlsx",
            sheet=None,
            max_columns=100,
            decoded_limit=1 << 30,
            timeout_s=0.05,
        )
    assert str(caught.value) == (
        "The workbook “slow.xlsx” took longer than 0.05 s to read, so reading stopped; save the "
        "sheet you need as CSV and attach that."
    )
