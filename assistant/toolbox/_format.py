"""Shared formatting for tool results: compact JSON for the model, tables for the user."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from assistant.events import Table
from assistant.untrusted import MAX_NAME_CHARS, cap
from tools.search.automl import candidate_label

MAX_MODEL_CHARS = 6_000
"""Upper bound of one tool result as the model sees it (about 1,500 tokens)."""
MAX_CELL_CHARS = 60


def for_model(payload: dict[str, Any], *, max_chars: int = MAX_MODEL_CHARS) -> str:
    """``payload`` as compact JSON, trimmed field by field until it fits ``max_chars``."""
    text = json.dumps(_clean(payload), ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) <= max_chars:
        return text
    trimmed = dict(payload)
    for key in sorted(trimmed, key=lambda k: -len(json.dumps(_clean(trimmed[k]), default=str))):
        if key == "summary":
            continue
        value = trimmed[key]
        if isinstance(value, list) and len(value) > 3:
            trimmed[key] = [*value[:3], f"... {len(value) - 3} more"]
        else:
            trimmed[key] = "(omitted to save space)"
        text = json.dumps(_clean(trimmed), ensure_ascii=False, separators=(",", ":"), default=str)
        if len(text) <= max_chars:
            return text
    return text[:max_chars]


def family_label(family: str) -> str:
    """The readable name of a model family or leaderboard key (``lightgbm`` -> ``LightGBM``,
    ``lightgbm:tuned`` -> ``LightGBM (tuned)``, ``ensemble`` -> ``Ensemble``)."""
    return candidate_label(family)


def round_sig(value: Any, digits: int = 4) -> Any:
    """``value`` rounded to ``digits`` significant digits when it is a float."""
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.{digits}g}")
    return value


def leaderboard_table(rows: Sequence[dict[str, Any]], metric_label: str) -> Table:
    """The leaderboard as a table, best first."""
    body = []
    for rank, row in enumerate(rows, start=1):
        ok = row.get("status") == "ok"
        body.append(
            (
                rank if ok else "",
                family_label(str(row["family"])),
                round_sig(row["score"]) if ok else None,
                round_sig(row["std"], 2) if ok else None,
                round(float(row.get("fit_time_s") or 0.0), 1),
                row.get("status", ""),
                truncate(row.get("message") or "", 80),
            )
        )
    return Table(
        "Leaderboard (cross-validated: these scores chose the model)",
        ("rank", "model", metric_label, "± std", "fit time (s)", "status", "note"),
        tuple(body),
        name="leaderboard",
    )


def metrics_table(
    title: str, cv_metrics: dict[str, Any], expected: dict[str, Any], *, name: str
) -> Table:
    """The winner's metrics: expected on new data (when measured) beside cross-validated."""
    if not expected:
        rows = tuple((k, round_sig(v)) for k, v in cv_metrics.items())
        return Table(title, ("metric", "cross-validated"), rows, name=name)
    rows = tuple((k, round_sig(expected.get(k)), round_sig(v)) for k, v in cv_metrics.items())
    columns = ("metric", "expected on new data", "cross-validated (chose the model)")
    return Table(title, columns, rows, name=name)


def truncate(text: str, max_chars: int = MAX_CELL_CHARS) -> str:
    """``text`` cut to ``max_chars`` with an ellipsis."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def quoted(value: Any) -> str:
    """A value from the user's data, truncated and marked as quoted data."""
    return json.dumps(truncate(str(value)), ensure_ascii=False)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round_sig(value, 6)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def quoted_list(names: Sequence[str], *, max_items: int = 40) -> str:
    """Names from the user's file as a comma-separated list of capped JSON strings."""
    shown = ", ".join(json.dumps(cap(str(n)), ensure_ascii=False) for n in names[:max_items])
    return shown + (f" and {len(names) - max_items} more" if len(names) > max_items else "")


def cap_names(text: str, names: Sequence[str]) -> str:
    """``text`` with every name longer than the cap replaced by its capped form.

    Messages written by the engine (warnings) quote column names in full; a
    header of a thousand characters must reach the model as short as anywhere else.
    """
    for name in sorted((n for n in names if len(n) > MAX_NAME_CHARS), key=len, reverse=True):
        text = text.replace(name, cap(name))
    return text
