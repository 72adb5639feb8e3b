"""``mlchat usage``: what the LLM calls cost, per conversation, provider and model, and day.

Reads the ``llm_calls`` rows of the data folder's database (nothing is sent
anywhere): calls, errors, tokens in / out / cached, estimated cost, cache hit
rate and p50 / p95 latency, the spend against the caps, and anomaly flags.
Register it with :func:`add_usage` on the CLI's subcommand tree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

EXIT_OK = 0
_DAY_S = 86_400


def add_usage(commands: Any) -> None:
    """Register ``mlchat usage`` on the CLI's subcommand tree."""
    parser = commands.add_parser(
        "usage",
        help="show LLM calls, tokens, estimated cost, latency and anomalies",
        description=(
            "Summarise the recorded LLM calls: per conversation, per provider and model, and "
            "per UTC day — calls, errors, tokens in/out/cached, estimated cost, cache hit rate "
            "and p50/p95 latency — with the spend against the caps and anomaly flags."
        ),
    )
    parser.add_argument("--thread", metavar="ID", help="only this conversation")
    parser.add_argument(
        "--days",
        type=_positive_int,
        metavar="N",
        help="only the last N UTC days, today included (default: everything recorded)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(handler=run_usage_command)


def run_usage_command(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run ``mlchat usage`` with parsed arguments; returns the exit status."""
    from assistant.settings import Settings
    from assistant.spend.caps import day_start
    from assistant.spend.report import build_usage_report, format_usage_report
    from assistant.store import Database

    stream = out or sys.stdout
    env = dict(environ) if environ is not None else None
    settings = Settings.from_env(env)
    if not settings.has_store:
        stream.write(f"No LLM calls recorded yet: there is no database in {settings.data_dir}.\n")
        return EXIT_OK
    now = time.time()
    since = day_start(now) - (args.days - 1) * _DAY_S if args.days else None
    db = Database(settings.store_location)
    try:
        report = build_usage_report(
            db,
            settings.spend,
            wall_time=now,
            thread_id=args.thread,
            since=since,
            prompt_budget_tokens=settings.prompt_tokens,
        )
    finally:
        db.close()
    if args.json:
        json.dump(report.to_dict(), stream, indent=2)
        stream.write("\n")
        return EXIT_OK
    selection = f"conversation {args.thread}" if args.thread else "all conversations"
    period = f"the last {args.days} day(s)" if args.days else "all time"
    stream.write(f"LLM usage in {settings.data_dir} ({selection}, {period})\n\n")
    if report.summary.total.calls == 0:
        stream.write("No LLM calls match.\n")
        return EXIT_OK
    stream.write(format_usage_report(report) + "\n")
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a whole number of days, not “{text}”") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"the number of days must be at least 1, not {text}")
    return value
