"""Spend caps per conversation and per day, from the estimated cost of the recorded calls.

Spend is the sum of ``llm_calls.cost_usd`` (see ``assistant/providers/usage.py``):
cache hits and the offline assistant cost nothing, and calls to models with
no known price (local servers) count as free. A day is a UTC calendar day,
as in the usage summary. A cap is checked before each call, so the call that
crosses it still completes; the next one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from assistant.store import Database
from tools.errors import UserFacingError

CapScope = Literal["thread", "day"]

CAP_SETTING: dict[CapScope, str] = {
    "thread": "MLCHAT_SPEND_CAP_THREAD_USD",
    "day": "MLCHAT_SPEND_CAP_DAY_USD",
}
"""The environment variable that raises each cap."""

_SCOPE_WORDS: dict[CapScope, str] = {"thread": "This conversation", "day": "Today, mlchat"}


class SpendCapReached(UserFacingError):
    """A spend cap is used up: the language model is not called again until it is raised.

    The message names the figure, the cap and the setting that raises it.
    """

    def __init__(self, scope: CapScope, *, spent_usd: float, cap_usd: float) -> None:
        self.scope = scope
        self.spent_usd = spent_usd
        self.cap_usd = cap_usd
        self.setting = CAP_SETTING[scope]
        where = "in this conversation" if scope == "thread" else "today"
        super().__init__(
            f"{_SCOPE_WORDS[scope]} has used an estimated ${spent_usd:.2f} of its "
            f"${cap_usd:.2f} spending cap, so I won't call the language model again {where}. "
            "The offline assistant still handles the core requests (train, set the target, "
            "pick a metric, tune, explain, predict, download). To keep using the language "
            f"model, raise {self.setting} (0 removes the cap)."
        )


@dataclass(frozen=True, slots=True)
class CapStatus:
    """How much of one cap is used."""

    scope: CapScope
    spent_usd: float
    cap_usd: float
    """``0`` means no cap."""

    @property
    def fraction(self) -> float:
        """Share of the cap spent (0 when there is no cap)."""
        return self.spent_usd / self.cap_usd if self.cap_usd > 0 else 0.0

    @property
    def setting(self) -> str:
        """The environment variable that sets this cap."""
        return CAP_SETTING[self.scope]

    def warning(self) -> str:
        """The one-time warning shown when the cap is nearly used."""
        where = "this conversation's" if self.scope == "thread" else "today's"
        return (
            f"Heads-up: an estimated ${self.spent_usd:.2f} of {where} ${self.cap_usd:.2f} "
            f"spending cap is used ({self.fraction:.0%}). At the cap I stop calling the language "
            f"model; {self.setting} raises it."
        )


def day_start(wall_time: float) -> float:
    """Epoch seconds of the UTC midnight at or before ``wall_time``."""
    day = datetime.fromtimestamp(wall_time, tz=UTC).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def thread_spend_usd(db: Database, thread_id: str) -> float:
    """Estimated dollars spent by calls of conversation ``thread_id``."""
    row = db.query(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE thread_id = ?", (thread_id,)
    )
    return float(row[0][0])


def day_spend_usd(db: Database, wall_time: float) -> float:
    """Estimated dollars spent by every call of the UTC day containing ``wall_time``."""
    start = day_start(wall_time)
    row = db.query(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE created_at >= ? AND created_at < ?",
        (start, start + 86_400),
    )
    return float(row[0][0])


class SpendLedger:
    """Running spend per conversation and per UTC day, kept up to date incrementally.

    A cap is checked before every call, so summing all of a day's rows each
    time would grow with the day's traffic. The ledger sums a conversation
    or a day once, then adds only rows with a higher id than it has seen (rows
    written by any process, as ``llm_calls`` ids only grow).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._last_id: int | None = None
        self._threads: dict[str, float] = {}
        self._days: dict[float, float] = {}

    def thread_usd(self, thread_id: str) -> float:
        """Estimated dollars spent by conversation ``thread_id``."""
        last_id = self._catch_up()
        if thread_id not in self._threads:
            row = self._db.query(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE thread_id = ? AND id <= ?",
                (thread_id, last_id),
            )
            self._threads[thread_id] = float(row[0][0])
        return self._threads[thread_id]

    def day_usd(self, wall_time: float) -> float:
        """Estimated dollars spent in the UTC day containing ``wall_time``."""
        last_id = self._catch_up()
        start = day_start(wall_time)
        if start not in self._days:
            row = self._db.query(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls"
                " WHERE created_at >= ? AND created_at < ? AND id <= ?",
                (start, start + 86_400, last_id),
            )
            self._days[start] = float(row[0][0])
        return self._days[start]

    def _catch_up(self) -> int:
        if self._last_id is None:
            self._last_id = int(self._db.query("SELECT COALESCE(MAX(id), 0) FROM llm_calls")[0][0])
            return self._last_id
        rows = self._db.query(
            "SELECT id, thread_id, created_at, cost_usd FROM llm_calls WHERE id > ? ORDER BY id",
            (self._last_id,),
        )
        for row in rows:
            cost = row["cost_usd"] or 0.0
            if row["thread_id"] in self._threads:
                self._threads[row["thread_id"]] += cost
            start = day_start(row["created_at"])
            if start in self._days:
                self._days[start] += cost
            self._last_id = row["id"]
        return self._last_id
