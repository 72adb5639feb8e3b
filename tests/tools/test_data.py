"""Loading tables (tools/io/): every format, clean typing, and every bad input."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from tools.errors import DataError, TargetError
from tools.io.load import file_sha256, load_table, resolve_column

# --- formats -----------------------------------------------------------------------------


def test_csv_round_trip_of_the_churn_table(churn_csv: Path, churn_frame: pd.DataFrame) -> None:
    table = load_table(churn_csv)
    frame = table.frame
    assert table.format == "csv" and table.sheet is None and table.sheets == ()
    assert list(frame.columns) == list(churn_frame.columns)
    assert frame.shape == (200, 10)
    assert frame["tenure_months"].dtype == np.int64
    assert frame["monthly_charges"].isna().sum() == 10
    assert frame["signup_date"].dtype == "datetime64[ns]"
    assert frame["signup_date"].iloc[0] == churn_frame["signup_date"].iloc[0]
    assert frame["churn"].dtype == bool
    assert frame["churn"].tolist() == (churn_frame["churn"] == "yes").tolist()
    assert table.boolean_words["churn"] == ("no", "yes")
    assert pd.api.types.is_string_dtype(frame["contract"].dtype)
    assert "Parsed 'signup_date' as dates (like 2024-01-31)." in table.notes


def test_semicolon_latin1_file_with_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "ventes.csv"
    path.write_bytes("ville;prix;qté\nSète;1,5;3\nNîmes;2,25;4\nOrléans;10,0;5\n".encode("latin-1"))
    table = load_table(path)
    assert list(table.frame.columns) == ["ville", "prix", "qté"]
    assert table.frame["ville"].tolist() == ["Sète", "Nîmes", "Orléans"]
    assert table.frame["prix"].tolist() == [1.5, 2.25, 10.0]
    assert "Read with ';' delimiter, cp1252." in table.notes


@pytest.mark.parametrize(("delimiter", "suffix"), [("\t", ".tsv"), ("\t", ".csv"), ("|", ".csv")])
def test_tab_and_pipe_delimiters(tmp_path: Path, delimiter: str, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    rows = ["a,b", "x", "1", "y,z", "2", "3,5", "4"]
    lines = [delimiter.join(rows[0:3])] + [delimiter.join(["x,y", "1", "2"])] * 3
    path.write_text("\n".join(lines) + "\n")
    table = load_table(path)
    assert list(table.frame.columns) == ["a,b", "x", "1"]
    assert table.frame["a,b"].tolist() == ["x,y"] * 3
    assert table.format == ("tsv" if suffix == ".tsv" else "csv")


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffname,score\nÅsa,1\nBo,2\n".encode())
    table = load_table(path)
    assert list(table.frame.columns) == ["name", "score"]
    assert table.frame["name"].tolist() == ["Åsa", "Bo"]


def test_latin1_bytes_after_the_sniffed_sample_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    body = "".join(f"plain{i},{i}\n" for i in range(20_000))
    path.write_bytes(b"city,n\n" + body.encode() + "Zürich,1\n".encode("latin-1"))
    table = load_table(path)
    assert table.frame["city"].iloc[-1] == "Zürich"
    assert len(table.frame) == 20_001
    # 0x81 is undefined in cp1252 too, so only Latin-1 can read this one
    path.write_bytes(b"city,n\n" + body.encode() + b"Z\x81rich,1\n")
    table = load_table(path)
    assert table.frame["city"].iloc[-1] == "Z\x81rich"
    assert "Read with ',' delimiter, latin-1." in table.notes


def test_parquet(tmp_path: Path, iris_frame: pd.DataFrame) -> None:
    path = tmp_path / "iris.parquet"
    iris_frame.to_parquet(path)
    table = load_table(path)
    assert table.format == "parquet"
    pd.testing.assert_frame_equal(table.frame, iris_frame, check_dtype=False)


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def test_excel_uses_the_first_non_empty_sheet_and_lists_every_sheet(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "book.xlsx",
        {
            "Cover": [],
            "Data": [[], ["age", "plan", "churn"], [31, "basic", "no"], [45, "pro", "yes"]],
            "Notes": [["text"], ["hello"]],
        },
    )
    table = load_table(path)
    assert (table.format, table.sheet, table.sheets) == (
        "excel",
        "Data",
        ("Cover", "Data", "Notes"),
    )
    assert table.frame.to_dict("list") == {
        "age": [31, 45],
        "plan": ["basic", "pro"],
        "churn": [False, True],
    }
    assert table.notes[0].startswith("Used sheet 'Data' of 3 (the first non-empty sheet)")


def test_excel_named_sheet_and_unknown_sheet(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "book.xlsx",
        {"A": [["x", "y"], [1, 2]], "B": [["u", "v"], ["p", 3], ["q", 4]]},
    )
    assert load_table(path, sheet="b").frame["u"].tolist() == ["p", "q"]
    with pytest.raises(DataError, match=r"has no sheet named “Sales”\. Its sheets are “A”, “B”"):
        load_table(path, sheet="Sales")


def test_excel_zip_bomb_is_refused_before_opening(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (40 << 20))
    assert path.stat().st_size < 200_000
    with pytest.raises(DataError, match=r"compressed [\d,]+ to 1, which is how zip bombs look"):
        load_table(path)


def test_text_renamed_xlsx_and_old_xls(tmp_path: Path) -> None:
    fake = tmp_path / "fake.xlsx"
    fake.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"does not look like an Excel workbook"):
        load_table(fake)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    with pytest.raises(DataError, match=r"The workbook “old\.xls” is damaged"):
        load_table(old)


@pytest.mark.parametrize(
    "document",
    [
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
        {"a": [1, 2], "b": ["x", "y"]},
        {"a": {"0": 1, "1": 2}, "b": {"0": "x", "1": "y"}},
        {"meta": {"source": "crm"}, "data": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]},
    ],
    ids=["records", "columns", "pandas-columns", "wrapper"],
)
def test_json_layouts(tmp_path: Path, document: object) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))
    table = load_table(path)
    assert table.format == "json"
    assert table.frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_nested_json_is_flattened_and_said_so(tmp_path: Path) -> None:
    path = tmp_path / "nested.json"
    records = [
        {"id": 1, "user": {"age": 30, "geo": {"city": "Oslo"}}, "tags": ["a", "b"]},
        {"id": 2, "user": {"age": 41, "geo": {"city": "Rome"}}, "tags": []},
    ]
    path.write_text(json.dumps(records))
    table = load_table(path)
    assert list(table.frame.columns) == ["id", "tags", "user.age", "user.geo.city"]
    assert table.frame["user.geo.city"].tolist() == ["Oslo", "Rome"]
    assert table.frame["tags"].tolist() == ['["a", "b"]', "[]"]
    assert any("Flattened nested JSON" in note for note in table.notes)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_json_lines(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    path.write_text('{"a": 1, "b": "x"}\r\n\n{"a": 2, "b": "y\u2028z"}\n')
    table = load_table(path)
    assert table.format == "jsonl"
    assert table.frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y\u2028z"]}


def test_invalid_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"a": 1}, {"a": ]')
    with pytest.raises(
        DataError, match=r"“bad\.json” is not valid JSON \(line 1, column 18: expecting value\)"
    ):
        load_table(path)


# --- clean typing ----------------------------------------------------------------------------


def test_numbers_with_separators_percent_and_currency(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text(
        'amount,rate,price,zip,code\n"1,234",12%,"$1,000.50",02139,7\n'
        '"12,000,000",3.5%,$20,10001,8\n7,0%,$3,00501,9\n'
    )
    frame = load_table(path).frame
    assert frame["amount"].tolist() == [1234, 12_000_000, 7]
    assert frame["rate"].tolist() == [12.0, 3.5, 0.0]
    assert frame["price"].tolist() == [1000.5, 20.0, 3.0]
    assert frame["zip"].tolist() == ["02139", "10001", "00501"]
    assert frame["code"].dtype == np.int64


def test_a_few_non_numbers_in_a_numeric_column_become_missing_and_are_reported(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.csv"
    values = [f'"{i:,}"' for i in range(1000, 1099)] + ["unknown"]
    path.write_text("income,k\n" + "\n".join(f"{v},{i}" for i, v in enumerate(values)) + "\n")
    table = load_table(path)
    assert table.frame["income"].isna().sum() == 1
    assert table.frame["income"].iloc[0] == 1000
    assert any("1 value(s) that are not numbers became missing" in n for n in table.notes)


def test_mostly_text_column_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("size,k\n" + "".join(f"{v},1\n" for v in ["1", "2", "large", "3"] * 5))
    assert pd.api.types.is_string_dtype(load_table(path).frame["size"].dtype)


def test_boolean_words_with_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("a,b,c\nYes,TRUE,y\nno,false,n\n,true,Y\nno,true,n\n")
    table = load_table(path)
    assert table.frame["a"].dtype == "boolean"
    assert table.frame["a"].tolist() == [True, False, pd.NA, False]
    assert table.frame["b"].tolist() == [True, False, True, True]
    assert table.frame["c"].tolist() == [True, False, True, False]
    assert table.boolean_words["b"] == ("false", "true")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2024-01-31", "2023-12-01", "2024-02-29"], "2024-01-31"),
        (["31/01/2024", "01/12/2023", "29/02/2024"], "2024-01-31"),
        (["01/31/2024", "12/01/2023", "02/29/2024"], "2024-01-31"),
        (["Jan 31 2024", "Dec 1 2023", "Feb 29 2024"], "2024-01-31"),
        (["2024-01-31T10:00:00Z", "2023-12-01T00:00:00+02:00", "2024-02-29T01:02:03.5Z"], None),
    ],
)
def test_dates_in_common_formats(tmp_path: Path, values: list[str], expected: str | None) -> None:
    path = tmp_path / "d.csv"
    path.write_text("when,k\n" + "".join(f"{v},{i}\n" for i, v in enumerate(values)))
    column = load_table(path).frame["when"]
    assert pd.api.types.is_datetime64_any_dtype(column.dtype)
    assert column.notna().all()
    if expected:
        assert column.iloc[0] == pd.Timestamp(expected)


def test_names_are_stripped_blank_names_filled_and_duplicates_made_unique(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text(" age , ,age,income,age\n1,2,3,4,5\n6,7,8,9,10\n")
    table = load_table(path)
    assert list(table.frame.columns) == ["age", "column_2", "age_2", "income", "age_3"]
    assert "Renamed duplicate column 'age' to 'age_3'." in table.notes


# --- bad input ------------------------------------------------------------------------------


def _message(path: Path, **options: object) -> str:
    with pytest.raises(DataError) as caught:
        load_table(path, **options)
    message = str(caught.value)
    assert str(path.parent) not in message  # never a path outside what the user gave
    assert "Traceback" not in message
    return message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert _message(path).startswith("The file “empty.csv” is empty (0 bytes).")


def test_whitespace_only_file_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n\n   \n")
    assert _message(path) == (
        "The file “blank.csv” has no header row: its first lines are empty. Put the column "
        "names on the first line."
    )


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("a,b,c\n")
    assert _message(path).startswith("The file “header.csv” has a header but no data rows.")


def test_one_column(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("price\n1\n2\n")
    assert _message(path).startswith("The file “one.csv” has only one column (“price”)")


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "it looks like a PNG image"),
        (b"PK\x03\x04" + b"\x00" * 200, "it looks like a zip archive"),
        (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), None),
    ],
)
def test_binary_file_renamed_csv(tmp_path: Path, content: bytes, looks_like: str | None) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    message = _message(path)
    assert message.startswith("This file does not look like a CSV table (it contains binary data")
    if looks_like:
        assert looks_like in message


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(2 << 30)  # a sparse 2 GiB file: reading it would take seconds
    assert _message(path).startswith("The file “huge.csv” is 2.0 GiB, more than the 1.0 GiB limit.")
    small = tmp_path / "small.csv"
    small.write_text("a,b\n1,2\n")
    assert "more than the 4 bytes limit" in _message(small, max_bytes=4)


def test_too_many_columns_is_refused_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(100_000))
    path.write_text(header + "\n" + ",".join("1" for _ in range(100_000)) + "\n")
    assert _message(path).startswith(
        "The file “wide.csv” has 100,000 columns, more than the 10,000"
    )


def test_many_ragged_rows_are_an_error_naming_a_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n")
    message = _message(path)
    assert message.startswith(
        "The file “ragged.csv” has rows with a different number of fields than the header "
        "(2 of 4 rows; line 3 has 2 fields, the header has 3)."
    )


def test_a_rare_ragged_row_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "mostly.csv"
    rows = [f"{i},{i * 2}" for i in range(300)]
    rows.insert(100, "1,2,3")
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    table = load_table(path)
    assert len(table.frame) == 300
    assert table.notes[0] == "Skipped 1 row(s) with the wrong number of fields (lines 102)."


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x04data")
    assert "extension “.pkl”, which is not a table format" in _message(path)
    assert "does not exist" in _message(tmp_path / "nope.csv")


def test_damaged_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 50)
    assert _message(path).startswith("The Parquet file “bad.parquet” is damaged or incomplete")


# --- columns and hashes ------------------------------------------------------------------------


def test_resolve_column() -> None:
    columns = ["Customer ID", "Churn_Flag", "monthly charges", "tenure"]
    assert resolve_column(columns, "tenure") == "tenure"
    assert resolve_column(columns, "churn flag") == "Churn_Flag"
    assert resolve_column(columns, "MONTHLY_CHARGES") == "monthly charges"
    assert resolve_column(columns, "“Churn flag”?") == "Churn_Flag"
    with pytest.raises(TargetError) as caught:
        resolve_column(columns, "churn")
    assert str(caught.value) == (
        "The table has no column named “churn”. Closest matches: “Churn_Flag”. "
        "Say “the target is Churn_Flag” to use it."
    )
    with pytest.raises(TargetError, match=r"Its columns are “Customer ID”, “Churn_Flag”"):
        resolve_column(columns, "zzzz")


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_excel_cells_of_mixed_types_are_typed_from_their_text(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "mixed.xlsx",
        {"S": [["amount", "code", "label"], ["1,200", "007", "a"], [300, 12, 5], [None, "9", "b"]]},
    )
    frame = load_table(path).frame
    assert frame["amount"].tolist()[:2] == [1200.0, 300.0] and np.isnan(frame["amount"].iloc[2])
    assert frame["code"].tolist() == ["007", "12", "9"]
    assert frame["label"].tolist() == ["a", "5", "b"]


def test_utf16_csv_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("name,n\nÉlise,1\nZoë,2\n".encode("utf-16"))
    table = load_table(path)
    assert table.frame.to_dict("list") == {"name": ["Élise", "Zoë"], "n": [1, 2]}


def test_messages_show_a_clean_bounded_file_name(tmp_path: Path) -> None:
    path = tmp_path / ("evil\x1b[31m" + "x" * 200 + ".csv")
    path.write_bytes(b"")
    message = _message(path)
    assert "\x1b" not in message and "evil[31mxxx" in message
    assert "x" * 100 not in message and "…" in message


def test_title_lines_above_the_header_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text("\nSales report 2024\n\nregion,units\nnorth,3\nsouth,4\n")
    table = load_table(path)
    assert table.frame.to_dict("list") == {"region": ["north", "south"], "units": [3, 4]}
    assert table.notes == (
        "Skipped 1 line(s) above the header row (titles or notes, not table rows).",
    )


def test_a_short_header_is_still_the_header(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("a,b\n1,2,3\n4,5,6\n")
    assert "(2 of 2 rows; line 2 has 3 fields, the header has 2)" in _message(path)


def test_excel_title_rows_above_the_header_are_skipped(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "report.xlsx",
        {"S": [["Quarterly report"], [], ["region", "units", "price"], ["north", 3, 1.5]]},
    )
    table = load_table(path)
    assert table.frame.to_dict("list") == {"region": ["north"], "units": [3], "price": [1.5]}
    assert "Skipped 1 row(s) above the header row" in table.notes[-1]


def test_day_month_order_is_decided_by_the_whole_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    values = [f"0{m}/0{d}/2024" for m in range(1, 10) for d in range(1, 10)] * 30 + ["01/31/2024"]
    path.write_text("when,k\n" + "".join(f"{v},{i}\n" for i, v in enumerate(values)))
    column = load_table(path).frame["when"]
    assert column.iloc[1] == pd.Timestamp("2024-01-02") and column.notna().all()


def test_long_digit_strings_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("account,k\n1234567890123456789,1\n42,2\n")
    assert load_table(path).frame["account"].tolist() == ["1234567890123456789", "42"]


def test_deeply_nested_json_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert _message(path) == (
        "The file “deep.json” could not be read as a JSON file. Check that it opens in a "
        "spreadsheet program, or save it again as CSV."
    )


def test_damaged_workbook(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<not really a workbook")
    assert _message(path).startswith("The workbook “broken.xlsx” is damaged")


def test_a_file_to_predict_on_may_have_one_column(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text("age\n31\n45\n")
    assert load_table(path, min_columns=1).frame["age"].tolist() == [31, 45]


def test_infinite_values_become_missing(tmp_path: Path) -> None:
    path = tmp_path / "inf.csv"
    path.write_text("x,k\n1.5,1\ninf,2\n-Infinity,3\n")
    table = load_table(path)
    assert table.frame["x"].iloc[0] == 1.5 and table.frame["x"].isna().sum() == 2
    assert "Treated infinite values in 'x' as missing." in table.notes


def _mutations(base: bytes, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data)) if data else 0
            roll = rng.random()
            if roll < 0.4 and data:
                data[pos] = rng.randrange(256)
            elif roll < 0.7:
                data[pos:pos] = rng.choice([b",", b"\n", b"\r", b'"', b"\x00", b"{", b"]", b"\xff"])
            elif data:
                del data[pos : pos + rng.randint(1, 20)]
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".xlsx", ".parquet"])
def test_corrupted_files_load_or_fail_with_one_data_error(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y,z", None], "c": ["2024-01-01"] * 3})
    base_path = tmp_path / f"base{suffix}"
    if suffix == ".xlsx":
        frame.to_excel(base_path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(base_path)
    elif suffix == ".json":
        base_path.write_text(frame.to_json(orient="records"))
    elif suffix == ".jsonl":
        base_path.write_text(frame.to_json(orient="records", lines=True))
    else:
        frame.to_csv(base_path, index=False, sep="\t" if suffix == ".tsv" else ",")
    outcomes = {"loaded": 0, "refused": 0}
    for number, content in enumerate(_mutations(base_path.read_bytes(), 25, seed=len(suffix))):
        path = tmp_path / f"m{number}{suffix}"
        path.write_bytes(content)
        try:
            load_table(path)
            outcomes["loaded"] += 1
        except DataError as exc:
            assert str(tmp_path) not in str(exc)
            outcomes["refused"] += 1
    assert outcomes["loaded"] + outcomes["refused"] == 25


def test_excel_too_many_columns_and_leading_empty_columns(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "wide.xlsx",
        {"S": [[None, "a", "b", "c"], [None, 1, 2.5, "x"], [None, 3, 4.0, "y"]]},
    )
    table = load_table(path)
    assert table.frame.to_dict("list") == {"a": [1, 3], "b": [2.5, 4.0], "c": ["x", "y"]}
    assert table.frame["a"].dtype == np.int64
    assert "has 3 columns, more than the 2 mlchat can" in _message(path, max_columns=2)


def test_empty_unnamed_columns_from_trailing_delimiters_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "trailing.csv"
    path.write_text("a,b,,\n1,2,,\n3,4,5,\n")
    table = load_table(path)
    assert list(table.frame.columns) == ["a", "b", "column_3"]
    assert "Dropped 1 empty column(s) without a name." in table.notes


def test_european_and_trailing_currency_numbers(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text(
        "prix;total;code\n12,50 €;1 234 567,5;AB 12\n-€3,00;2 000;CD 34\n€ 7;15;EF 56\n",
        encoding="utf-8",
    )
    table = load_table(path)
    assert table.frame["prix"].tolist() == [12.5, -3.0, 7.0]
    assert table.frame["total"].tolist() == [1234567.5, 2000.0, 15.0]
    assert table.frame["code"].tolist() == ["AB 12", "CD 34", "EF 56"]
    assert "Parsed 'total' as numbers (decimal commas, thousands separators)." in table.notes


def test_two_digit_year_dates(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("when,k\n31/01/24,1\n15/02/24,2\n")
    assert load_table(path).frame["when"].tolist() == [
        pd.Timestamp("2024-01-31"),
        pd.Timestamp("2024-02-15"),
    ]


def test_ragged_row_line_numbers_count_title_lines(tmp_path: Path) -> None:
    path = tmp_path / "titled.csv"
    path.write_text("Export of 2024\na,b\n1,2\n3\n4,5,6\n")
    assert "(2 of 3 rows; line 4 has 1 fields, the header has 2)" in _message(path)


def test_excel_part_with_a_forged_small_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "forged.xlsx"
    part = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr(part, b"\0" * (30 << 20))
    data = bytearray(path.read_bytes())
    name = part.encode()
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                data[start + size_at : start + size_at + 4] = (1000).to_bytes(4, "little")
            start += 4
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(part).file_size == 1000  # the header now lies
    assert "does not unpack to what its header says" in _message(path)


def test_excel_part_with_a_corrupt_deflate_stream(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "bad.xlsx", {"S": [["a", "b"]] + [[i, i * 2] for i in range(500)]})
    data = bytearray(path.read_bytes())
    header = data.index(b"PK\x03\x04", data.index(b"xl/worksheets/sheet1.xml") - 30)
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    body = header + 30 + name_length + extra_length
    data[body + 5 : body + 40] = b"\xff" * 35
    path.write_bytes(bytes(data))
    assert "damaged" in _message(path)


def test_chart_sheets_are_not_listed_as_tables(tmp_path: Path) -> None:
    from openpyxl.chart import BarChart, Reference

    workbook = openpyxl.Workbook()
    data = workbook.active
    data.title = "Data"
    for row in [["a", "b"], [1, 2], [3, 4]]:
        data.append(row)
    chart = BarChart()
    chart.add_data(Reference(data, min_col=2, min_row=1, max_row=3))
    workbook.create_chartsheet("Chart", 0).add_chart(chart)
    workbook.save(tmp_path / "chart.xlsx")
    table = load_table(tmp_path / "chart.xlsx")
    assert (table.sheet, table.sheets, table.notes) == ("Data", ("Data",), ())


def test_spreadsheet_errors_and_na_words_are_missing(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "errors.xlsx",
        {"S": [["ratio", "group"], [0.5, "a"], ["#DIV/0!", "NA"], [1.5, "b"], ["  ", "b"]]},
    )
    frame = load_table(path).frame
    assert frame["ratio"].dtype == np.float64 and frame["ratio"].isna().sum() == 2
    assert frame["group"].isna().tolist() == [False, True, False, False]


def test_an_unclosed_quote_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('a,b\n1,"x\n2,y\n3,z\n')
    assert _message(path).startswith(
        'The file “quote.csv” has a quote (") that is never closed, in column 2 of data row 1'
    )


def test_values_spanning_lines_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('id,note\n1,"first line\nsecond line"\n2,plain\n3,"a\nb\nc"\n')
    frame = load_table(path).frame
    assert frame["note"].tolist() == ["first line\nsecond line", "plain", "a\nb\nc"]


def test_a_name_with_a_nul_byte_is_refused_cleanly(tmp_path: Path) -> None:
    message = _message(tmp_path / "evil\x00.csv")
    assert message.startswith("The file “evil.csv” does not exist or is not a regular file.")


def test_accounting_negatives_and_spaced_percents(tmp_path: Path) -> None:
    path = tmp_path / "books.csv"
    path.write_text('balance,share\n"(1,234.50)",12.5 %\n"2,000",3 %\n(7),100%\n')
    frame = load_table(path).frame
    assert frame["balance"].tolist() == [-1234.5, 2000.0, -7.0]
    assert frame["share"].tolist() == [12.5, 3.0, 100.0]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx", ".json"])
def test_loaded_frames_can_be_edited_in_place(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [1.5, 2.5, 3.5], "c": ["x", "y", "z"]})
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        path.write_text(frame.to_json(orient="records"))
    loaded = load_table(path).frame
    loaded.loc[0, "b"] = 99.0
    loaded.iloc[1, 0] = 7
    assert loaded.to_dict("list") == {"a": [1, 7, 3], "b": [99.0, 2.5, 3.5], "c": ["x", "y", "z"]}
