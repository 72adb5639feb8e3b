"""Bad input through the real Assistant (offline): one clear message, then the thread goes on.

Each case attaches a bad file (or asks for a bad target) in its own thread, checks
the user reads one short message that says what is wrong (no traceback), then, in
the same thread, attaches a good table and checks that "show the data" works.
Upload names that try to escape are stored inside the upload folder instead.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import pytest_asyncio

from assistant.events import Choices
from assistant.session import Assistant
from tests.reliability.common import (
    assert_one_clear_message,
    assert_turn_healthy,
    offline_settings,
    reply,
    small_table,
    turn,
)
from tools.errors import UserFacingError

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def assistant(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Assistant]:
    root = tmp_path_factory.mktemp("bad-inputs")
    helper = Assistant(offline_settings(root))
    small_table().to_csv(root / "good.csv", index=False)
    helper.files = root  # type: ignore[attr-defined]
    yield helper
    await helper.close()


def files_of(assistant: Assistant) -> Path:
    return assistant.files  # type: ignore[attr-defined]


async def next_message_works(assistant: Assistant, thread: str) -> None:
    """The same thread answers the next request normally."""
    record = assistant.attach_file(thread, files_of(assistant) / "good.csv")
    events = await turn(assistant, thread, "show the data", [record])
    assert_turn_healthy(events)
    assert '"good.csv": 120 rows x 4 columns' in reply(events)  # file names quoted as data


# --- files that cannot be read as a table -------------------------------------------------


def _zip_bomb(path: Path) -> None:
    """A small .xlsx whose worksheet unpacks to ~200 MB of repeated rows."""
    row = b'<row><c t="inlineStr"><is><t>aaaaaaaaaaaaaaaa</t></is></c></row>'
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        )
        zf.writestr(
            "xl/workbook.xml", "<workbook><sheets><sheet name='s' sheetId='1'/></sheets></workbook>"
        )
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(b"<worksheet><sheetData>")
            block = row * 16_384
            for _ in range(200 * 2**20 // len(block)):
                part.write(block)
            part.write(b"</sheetData></worksheet>")


def _excel_with_empty_first_sheet(path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame().to_excel(writer, sheet_name="Cover", index=False)
        small_table(60, seed=2).to_excel(writer, sheet_name="Data", index=False)
        pd.DataFrame({"note": ["x"]}).to_excel(writer, sheet_name="Notes", index=False)


@dataclass(frozen=True)
class FileCase:
    id: str
    name: str
    make: Callable[[Path], None]
    mentions: str
    """Regex the user's message must match."""
    readable: bool = False
    """True when the right answer is to read the file (and say what was done)."""


FILE_CASES = [
    FileCase("zero_bytes", "empty.csv", lambda p: p.write_bytes(b""), r"empty.*0 bytes"),
    FileCase(
        "binary_renamed_csv",
        "photo.csv",
        lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64),
        r"binary|not look like",
    ),
    FileCase(
        "non_utf8_latin1",
        "latin.csv",
        lambda p: p.write_bytes(
            b"name,city,score,y\n"
            + b"".join(f"Jos\xe9 {i},M\xfcnchen,{i},{i % 2}\n".encode("latin-1") for i in range(40))
        ),
        r'latin\.csv": 40 rows x 4 columns',
        readable=True,
    ),
    FileCase(
        "ragged_rows",
        "ragged.csv",
        lambda p: p.write_text("a,b,y\n1,2,0\n3,4,5,6\n7,8,1\n"),
        r"different number of fields.*line 3",
    ),
    FileCase("header_only", "header.csv", lambda p: p.write_text("a,b,y\n"), r"no data rows"),
    FileCase(
        "one_column",
        "one.csv",
        lambda p: p.write_text("y\n" + "".join(f"{i % 2}\n" for i in range(50))),
        r"only one column",
    ),
    FileCase(
        "nested_json",
        "nested.json",
        lambda p: p.write_text(
            json.dumps(
                [{"user": {"age": 20 + i, "tags": ["a", "b"]}, "y": i % 2} for i in range(30)]
            )
        ),
        r'nested\.json": 30 rows',
        readable=True,
    ),
    FileCase(
        "hundred_thousand_columns",
        "wide.csv",
        lambda p: p.write_text(
            ",".join(f"c{i}" for i in range(100_000))
            + "\n"
            + "\n".join(",".join("1" for _ in range(100_000)) for _ in range(3))
            + "\n"
        ),
        r"100,000 columns|too many columns|columns",
    ),
    FileCase(
        "excel_empty_first_sheet",
        "book.xlsx",
        _excel_with_empty_first_sheet,
        r'book\.xlsx": 60 rows x 4 columns',
        readable=True,
    ),
    FileCase(
        "zip_bomb_xlsx", "bomb.xlsx", _zip_bomb, r"zip bomb|unpack|too large|damaged|compress"
    ),
]


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.id)
async def test_a_bad_file_gets_one_clear_message_and_the_thread_goes_on(
    assistant: Assistant, case: FileCase
) -> None:
    thread = f"bad-{case.id}"
    path = files_of(assistant) / case.name
    case.make(path)
    try:
        record = assistant.attach_file(thread, path)
    except UserFacingError as exc:  # refused at the door: also one clear message
        assert not case.readable
        assert_one_clear_message(str(exc), mentions=case.mentions)
    else:
        events = await turn(assistant, thread, "show the data", [record])
        text = reply(events)
        assert_one_clear_message(text, mentions=case.mentions)
        if case.readable:
            assert_turn_healthy(events)
    await next_message_works(assistant, thread)


async def test_a_2_gib_file_is_refused_by_size_before_it_is_read(assistant: Assistant) -> None:
    huge = files_of(assistant) / "huge.csv"
    with huge.open("wb") as handle:
        handle.truncate(2 << 30)  # sparse: no 2 GiB are written
    thread = "bad-2gib"
    with pytest.raises(UserFacingError) as refused:
        assistant.attach_file(thread, huge)
    assert_one_clear_message(str(refused.value), mentions=r"2,048 MB.*limit")
    uploads = assistant.settings.workspace_for(thread) / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
    huge.unlink()
    await next_message_works(assistant, thread)


# --- names that try to leave the upload folder ---------------------------------------------


def _everything_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


@pytest.mark.parametrize(
    "name",
    [
        "../../../escaped.csv",
        "..\\..\\escaped.csv",
        "/tmp/escaped-absolute.csv",
        "nul\x00byte.csv",
        "....csv",
        "\x1b[31mred.csv",
    ],
    ids=["dotdot", "backslash_dotdot", "absolute", "nul_byte", "only_dots", "control_chars"],
)
async def test_an_upload_name_cannot_place_the_file_outside_the_upload_folder(
    assistant: Assistant, name: str
) -> None:
    root = files_of(assistant)
    thread = f"name-{abs(hash(name))}"
    before = _everything_under(root) - _everything_under(root / "data")
    try:
        record = assistant.attach_file(thread, root / "good.csv", name=name)
    except UserFacingError as exc:  # refusing the name is fine too, if it says why
        assert_one_clear_message(str(exc), mentions=r"not a table file|rename")
        assert _everything_under(root) - _everything_under(root / "data") == before
        await next_message_works(assistant, thread)
        return
    uploads = (assistant.settings.workspace_for(thread) / "uploads").resolve()
    assert record.path.resolve().parent == uploads
    assert "\x00" not in record.name and "/" not in record.name and "\\" not in record.name
    after = _everything_under(root) - _everything_under(root / "data")
    assert after == before  # nothing new next to the data folder
    assert not Path("/tmp/escaped-absolute.csv").exists()
    events = await turn(assistant, thread, "show the data", [record])
    assert_turn_healthy(events)


async def test_a_symlink_planted_in_the_upload_folder_is_not_written_through(
    assistant: Assistant,
) -> None:
    root = files_of(assistant)
    victim = root / "victim.txt"
    victim.write_text("precious")
    thread = "name-symlink"
    uploads = assistant.settings.workspace_for(thread) / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "good.csv").symlink_to(victim)
    record = assistant.attach_file(thread, root / "good.csv")
    assert victim.read_text() == "precious"
    assert not record.path.is_symlink() and record.path.parent.resolve() == uploads.resolve()
    assert_turn_healthy(await turn(assistant, thread, "show the data", [record]))


# --- targets the model cannot learn --------------------------------------------------------


def _with_target(values: Callable[[int], list[object]]) -> pd.DataFrame:
    frame = small_table(60, seed=4).drop(columns="y")
    frame["label"] = values(len(frame))
    return frame


TARGET_CASES = {
    "all_missing": (lambda n: [None] * n, r"missing|empty|no values"),
    "constant": (lambda n: ["same"] * n, r"same value.*in every row|constant"),
    "unique_per_row": (lambda n: [f"id-{i}" for i in range(n)], r"unique|every row|identifier|ID"),
}


@pytest.mark.parametrize("kind", sorted(TARGET_CASES))
async def test_an_unlearnable_target_is_refused_with_a_reason(
    assistant: Assistant, kind: str
) -> None:
    values, mentions = TARGET_CASES[kind]
    path = files_of(assistant) / f"target-{kind}.csv"
    _with_target(values).to_csv(path, index=False)
    thread = f"target-{kind}"
    record = assistant.attach_file(thread, path)
    events = await turn(assistant, thread, "train a model to predict label", [record])
    assert_one_clear_message(reply(events), mentions=mentions)
    assert assistant.runs.latest(thread, with_model=True) is None
    await next_message_works(assistant, thread)


async def test_an_unknown_target_names_the_closest_columns(assistant: Assistant) -> None:
    thread = "target-unknown"
    record = assistant.attach_file(thread, files_of(assistant) / "good.csv")
    events = await turn(assistant, thread, "train a model to predict kinds_of_x", [record])
    # Asked, not guessed: the question names the missing column and offers the real ones.
    asked = [e for e in events if isinstance(e, Choices)]
    assert len(asked) == 1
    assert "kinds_of_x" in asked[0].question
    assert "predict kind" in asked[0].options
    assert assistant.runs.latest(thread, with_model=True) is None
    assert_turn_healthy(events)
    await next_message_works(assistant, thread)


async def test_a_prediction_file_missing_columns_names_them(assistant: Assistant) -> None:
    thread = "predict-missing"
    root = files_of(assistant)
    record = assistant.attach_file(thread, root / "good.csv")
    assert_turn_healthy(await turn(assistant, thread, "train a model to predict y", [record]))
    assert assistant.runs.latest(thread, with_model=True) is not None
    small_table(10, seed=9).drop(columns=["y", "x2"]).to_csv(root / "new.csv", index=False)
    new = assistant.attach_file(thread, root / "new.csv")
    events = await turn(assistant, thread, "predict on this file", [new])
    assert_one_clear_message(reply(events), mentions=r"x2")
    made = [p.name for p in assistant.settings.workspace_for(thread).rglob("*predictions*.csv")]
    assert made == [], made
    await next_message_works(assistant, thread)
