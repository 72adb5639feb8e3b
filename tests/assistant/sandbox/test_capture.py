"""Output capture, result mapping and the kernel preamble (pure functions, no kernel)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pandas as pd

from assistant.sandbox.capture import OutputCapture, result_from_bundle, trim_traceback
from assistant.sandbox.preamble import preamble_code


def test_chunks_are_passed_on_in_order_and_kept_up_to_the_cap() -> None:
    seen: list[tuple[str, str]] = []
    capture = OutputCapture(lambda s, t: seen.append((s, t)), max_chars=10)
    capture.stream("stdout", "abcdef")
    capture.stream("stderr", "ghij")
    capture.stream("stdout", "klm")
    execution = capture.execution()
    assert seen[:2] == [("stdout", "abcdef"), ("stderr", "ghij")]
    assert execution.stdout.startswith("abcdef\n[... 3 more characters of stdout were cut")
    assert execution.stderr == "ghij"
    assert seen[2][0] == "stdout" and "3 more characters" in seen[2][1]


def test_a_failing_callback_does_not_lose_output() -> None:
    def broken(stream: str, text: str) -> None:
        raise RuntimeError("UI went away")

    capture = OutputCapture(broken)
    capture.stream("stdout", "kept")
    assert capture.execution().stdout == "kept"


def test_the_first_error_wins() -> None:
    capture = OutputCapture(None)
    capture.fail("ValueError", "first")
    capture.fail("RuntimeError", "second")
    assert capture.execution().error.name == "ValueError"  # type: ignore[union-attr]


def test_bundles_map_to_results() -> None:
    png = b"\x89PNG\r\n\x1a\nrest"
    result = result_from_bundle(
        {
            "text/plain": "<Figure>",
            "image/png": base64.b64encode(png).decode(),
            "application/vnd.plotly.v1+json": {"data": [], "layout": {}},
        },
        is_main_result=True,
    )
    assert (result.text, result.png, result.plotly, result.html, result.is_main_result) == (
        "<Figure>",
        png,
        {"data": [], "layout": {}},
        None,
        True,
    )


def test_tracebacks_lose_colours_and_keep_their_end() -> None:
    assert trim_traceback("\x1b[0;31mZeroDivisionError\x1b[0m: boom") == "ZeroDivisionError: boom"
    long = "frame\n" * 2000 + "KeyError: 'x'"
    trimmed = trim_traceback(long, max_chars=100)
    assert trimmed.startswith("[... earlier frames cut ...]") and trimmed.endswith("KeyError: 'x'")


def run_python(source: str) -> subprocess.CompletedProcess[str]:
    """Run code in a separate interpreter, as the kernel would (never in the test process)."""
    return subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_preamble_loads_each_format_as_df(tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": [30, 40], "city": ["Oslo", "Rome"]})
    paths = [tmp_path / n for n in ("p.csv", "p.parquet", "p.xlsx", "p.json", "p.tsv")]
    frame.to_csv(paths[0], index=False)
    frame.to_parquet(paths[1])
    frame.to_excel(paths[2], index=False)
    frame.to_json(paths[3])
    frame.to_csv(paths[4], index=False, sep="\t")
    script = "".join(
        preamble_code(str(path)) + "print(df['age'].tolist(), list(df.columns))\ndel df\n"
        for path in paths
    )
    done = run_python(script)
    assert done.stderr == ""
    assert done.stdout.splitlines() == ["[30, 40] ['age', 'city']"] * len(paths)


def test_an_unreadable_dataset_is_reported_not_raised(tmp_path: Path) -> None:
    done = run_python(preamble_code(str(tmp_path / "missing.csv")) + "print('df' in globals())")
    assert done.returncode == 0 and done.stdout == "False\n"
    assert "Could not load missing.csv as df" in done.stderr
