"""The ``mlchat`` command.

``train``, ``predict`` and ``profile`` call the engine in :mod:`tools` directly
(no LLM, no UI). Each subcommand is one small ``_cmd_<name>`` function
registered by ``_add_<name>`` on the argparse tree built in
:func:`build_parser`, so more subcommands can be added beside them.

Bad input -- a :class:`~tools.errors.UserFacingError`, a missing file, a bad
option value -- exits with status 2 and one sentence on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from assistant.cli.chat import add_chat
from assistant.cli.models import add_models
from assistant.cli.notebook import add_export_notebook
from assistant.cli.serve import add_serve
from assistant.cli.serve_model import add_serve_model
from assistant.cli.usage import add_usage
from assistant.private_files import restrict_new_files
from tools.errors import UserFacingError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BUG = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-sentence errors (exit 2) instead of usage dumps."""

    def error(self, message: str) -> NoReturn:
        sentence = message[0].upper() + message[1:] if message else "Invalid arguments"
        self.exit(
            EXIT_BAD_INPUT,
            f"{self.prog}: {sentence.rstrip('.')}. Run “{self.prog} --help” for the options.\n",
        )


def build_parser() -> argparse.ArgumentParser:
    """The ``mlchat`` argument parser with one subparser per command."""
    parser = _Parser(
        prog="mlchat",
        description="Train, explain and apply machine-learning models on tabular files.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress details to stderr"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_train(commands)
    _add_predict(commands)
    _add_profile(commands)
    add_chat(commands)
    add_usage(commands)
    add_models(commands)
    add_serve(commands)
    add_serve_model(commands)
    add_export_notebook(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mlchat`` console script; returns the exit status."""
    restrict_new_files()  # models, reports and databases are the user's alone
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or EXIT_OK)
    except UserFacingError as exc:
        print(f"mlchat: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mlchat: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the CLI boundary: a bug, logged once
        if args.verbose:
            log.exception("command_failed command=%s", args.command)
        print(
            f"mlchat: unexpected internal error ({type(exc).__name__}); this is a bug. "
            "Run again with --verbose to see the details.",
            file=sys.stderr,
        )
        return EXIT_BUG


# ---------------------------------------------------------------------------
# option types
# ---------------------------------------------------------------------------


def _existing_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"there is no file “{text}”")
    return path


def _existing_dir(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"there is no folder “{text}”")
    return path


def _seconds(text: str) -> float:
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"the budget must be a number of seconds, like 60, not “{text}”"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"the budget must be positive, not {text}")
    return value


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one model name, like lightgbm,ridge")
    return names


def _feature(text: str) -> Any:
    from tools.errors import FeatureError
    from tools.feature_grammar import parse_feature

    try:
        return parse_feature(text)
    except FeatureError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_sheet(parser: argparse.ArgumentParser) -> None:
    """``--sheet``, which every command that reads a table takes (for Excel files)."""
    parser.add_argument("--sheet", metavar="NAME", help="Excel sheet to read")


# ---------------------------------------------------------------------------
# mlchat train
# ---------------------------------------------------------------------------


def _add_train(commands: Any) -> None:
    parser = commands.add_parser(
        "train",
        help="profile a table, train candidate models under a budget, export the best",
        description="Profile FILE, plan, cross-validate candidate models within the budget, "
        "refit the best and write it with a report, model card, script and figures to --out.",
    )
    parser.add_argument(
        "file",
        type=_existing_file,
        nargs="?",
        metavar="FILE",
        help="CSV, TSV, Parquet, Excel or JSON table (or --sql instead)",
    )
    parser.add_argument(
        "--sql",
        metavar="URL",
        help="read the table from this database instead (read-only; e.g. "
        "postgresql://user@host/db; default MLCHAT_SQL_URL)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--table", metavar="NAME", help="with --sql: the table to read")
    source.add_argument("--query", metavar="SELECT", help="with --sql: one SELECT to read")
    parser.add_argument("--target", metavar="COL", help="column to predict")
    parser.add_argument(
        "--plan",
        metavar="WORDS",
        help="the plan in your words, e.g. 'predict churn, rank by F1, two minutes, only trees' "
        "(read by the configured language model; flags given as well win)",
    )
    parser.add_argument("--metric", metavar="M", help="metric to optimise, e.g. roc_auc, f1, rmse")
    parser.add_argument(
        "--budget",
        type=_seconds,
        metavar="SECONDS",
        help="wall-clock budget (default 60, or MLCHAT_BUDGET_S)",
    )
    parser.add_argument(
        "--models",
        type=_names,
        metavar="a,b,...",
        help="model families or groups, e.g. lightgbm,ridge or tree",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default ./mlchat-runs/<file>-<time>)",
    )
    parser.add_argument(
        "--task",
        choices=("classification", "regression"),
        help="treat the target as classes or as numbers (default: inferred from the column)",
    )
    parser.add_argument(
        "--positive-class",
        metavar="LABEL",
        help="the class F1, the threshold and the ROC/PR curves are about "
        "(binary targets; default: the rarer class)",
    )
    _add_sheet(parser)
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    parser.add_argument(
        "--feature",
        type=_feature,
        action="append",
        metavar="'NAME = EXPR'",
        help="add a derived column, e.g. 'spend_per_month = spend / tenure' (repeatable)",
    )
    parser.set_defaults(handler=_cmd_train)


def _apply_plan_words(
    args: argparse.Namespace, columns: list[str], write: Callable[[str], None]
) -> None:
    """Fill the flags left unset from ``--plan`` (the language model reads the words)."""
    from assistant.cli.plan_words import plan_from_cli_words
    from assistant.plan_request import describe
    from assistant.settings import Settings

    asked = plan_from_cli_words(args.plan, columns, Settings.from_env())
    write(f"Plan from your words: {describe(asked)}")
    args.target = args.target or asked.target
    args.metric = args.metric or asked.metric
    args.models = args.models or (list(asked.models) if asked.models else None)
    if args.budget is None and asked.budget_s is not None:
        args.budget = float(asked.budget_s)
    args.task = args.task or asked.task
    args.positive_class = args.positive_class or asked.positive_class


def _cmd_train(args: argparse.Namespace) -> int:
    from tools.io.load import load_table
    from tools.pipeline import Loaded, Planned, RunOptions, Searched, run_training
    from tools.search.automl import candidate_label

    write = _writer(sys.stdout)
    if args.sql is not None or args.table is not None or args.query is not None:
        args.file = _file_from_sql(args, write)
    elif args.file is None:
        raise UserFacingError("Give the table to train on: FILE, or --sql URL with --table NAME.")
    table = load_table(args.file, sheet=args.sheet, max_bytes=_max_upload_bytes())
    if args.plan:
        _apply_plan_words(args, list(table.frame.columns), write)
    if not args.target:
        raise UserFacingError("Say which column to predict: --target COL (or name it in --plan).")
    budget_s = args.budget if args.budget is not None else _default_budget_s()
    out_dir = args.out or _default_out_dir(args.file)
    printers: dict[str, Callable[[Any], None]] = {}
    stops: list[threading.Event] = []

    def on_loaded(loaded: Loaded) -> None:
        write(_profile_text(loaded.file_name, loaded.profile, loaded.notes))

    def on_planned(planned: Planned) -> None:
        write("\nPlan\n" + _indent(planned.plan.describe()))
        higher = "higher" if planned.greater_is_better else "lower"
        write(f"\nLeaderboard ({planned.metric_label}, {higher} is better)")
        printers["progress"] = _leaderboard_printer(write)
        printers["trial"] = _trial_printer(write, planned.metric_label)
        stops.append(_install_stop_handler(write))

    def on_searched(searched: Searched) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        result = searched.result
        for note in result.notes:
            write(f"  note: {note}")
        write(
            f"\nBest model: {candidate_label(result.best_family)} (trained in "
            f"{result.elapsed_s:.1f} s{', stopped early' if result.stopped else ''})"
        )
        if result.expected_metrics:
            write("Expected on new data (rows that took no part in choosing the model):")
            write(_indent(_metric_lines(result.expected_metrics)))
        write("Cross-validation (the rows that chose the model, so optimistic):")
        write(_indent(_metric_lines(result.cv_metrics)))

    plan_fields: dict[str, Any] = {
        "metric": args.metric,
        "models": args.models,
        "budget_s": budget_s,
        "positive_class": args.positive_class,
    }
    try:
        # The budget counts from process start and covers everything up to the last file written.
        report = run_training(
            args.file,
            args.target,
            out_dir=out_dir,
            options=RunOptions(
                plan_fields=plan_fields,
                plan_changes={"derived_features": args.feature} if args.feature else {},
                task=args.task,
                sheet=args.sheet,
                max_bytes=_max_upload_bytes(),
                seed=args.seed,
            ),
            started_at_s=_process_started_at(),
            table=table,
            on_loaded=on_loaded,
            on_planned=on_planned,
            on_progress=lambda progress: printers["progress"](progress),
            on_trial=lambda report: printers["trial"](report),
            on_searched=on_searched,
            should_stop=lambda: bool(stops) and stops[0].is_set(),
        )
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if report.insights:
        write("\nInsights")
        write(_indent("\n".join(f"- {sentence}" for sentence in report.insights)))
    run_dir = Path(report.run_dir)
    write(f"\nWrote {run_dir}:")
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        write(f"  {path.relative_to(run_dir)}")
    return EXIT_OK


def _file_from_sql(args: argparse.Namespace, write: Callable[[str], None]) -> Path:
    """Read ``--table``/``--query`` of ``--sql`` read-only, preview it, save it as Parquet."""
    from assistant.settings import Settings
    from tools.sql_source import read_sql

    settings = Settings.from_env()
    url = args.sql or settings.sql_url
    if args.file is not None or url is None or (args.table is None and args.query is None):
        raise UserFacingError("Give either FILE, or --sql URL with --table NAME or --query SELECT.")
    read = read_sql(url, table=args.table, query=args.query, max_rows=settings.sql_max_rows)
    write(f"Read {len(read.frame):,} rows from the {read.source}")
    if read.is_truncated:
        write("  (the row limit MLCHAT_SQL_MAX_ROWS cut it; the rest was not read)")
    write(_indent(read.frame.head(5).to_string(max_colwidth=24)))
    name = (args.table or "query").split(".")[-1]
    out_dir = args.out or _default_out_dir(Path(name))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.parquet"
    read.frame.to_parquet(path, index=False)
    args.out = out_dir
    return path


def _process_started_at() -> float:
    """When this process started (``time.time()`` seconds)."""
    import psutil

    try:
        return float(psutil.Process().create_time())
    except psutil.Error:  # e.g. /proc hidden: count from the first import of this module
        return _IMPORTED_AT


_IMPORTED_AT = time.time()


def _default_budget_s() -> float:
    from assistant.settings import Settings

    return float(Settings.from_env().budget_s)


def _default_out_dir(path: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path.cwd() / "mlchat-runs" / f"{path.stem}-{stamp}"


def _install_stop_handler(write: Callable[[str], None]) -> threading.Event:
    """First Ctrl-C asks training to stop and keep what finished; the second aborts."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        write("  stopping after the current fold (Ctrl-C again to abort)...")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
    return stop


def _leaderboard_printer(write: Callable[[str], None]) -> Callable[[Any], None]:
    started = time.monotonic()

    def on_progress(progress: Any) -> None:
        candidate = progress.candidate
        if progress.kind == "refit_started":
            write(f"  {progress.message}")
        if progress.kind != "candidate_finished" or candidate is None:
            return
        if candidate.status == "ok":
            spread = f"± {candidate.std:<7.4f}" if math.isfinite(candidate.std) else " " * 9
            line = (
                f"  {candidate.family:<20} {candidate.score:>9.4f} {spread}"
                f" {candidate.fit_time_s:6.1f} s"
            )
            if candidate.message:
                line += f"  ({candidate.message})"
        else:
            line = f"  {candidate.family:<20} {candidate.status}: {candidate.message}"
        write(f"{line}   [{time.monotonic() - started:5.1f} s]")

    return on_progress


def _trial_printer(write: Callable[[str], None], metric_label: str) -> Callable[[Any], None]:
    """Prints a tuning line when a trial improves on the best so far, and every 10th trial."""
    from assistant.jobs import trial_line

    seen = {"count": 0, "best": math.nan}

    def on_trial(report: Any) -> None:
        seen["count"] += 1
        improved = report.best_score != seen["best"] and not math.isnan(report.best_score)
        seen["best"] = report.best_score
        if improved or seen["count"] % 10 == 0:
            write(f"  {trial_line(report, metric_label)}")

    return on_trial


# ---------------------------------------------------------------------------
# mlchat predict
# ---------------------------------------------------------------------------


def _add_predict(commands: Any) -> None:
    parser = commands.add_parser(
        "predict",
        help="apply a trained model folder to a new file and write predictions to CSV",
        description="Check FILE's columns against the model in MODEL_DIR and write one "
        "prediction (and class probabilities) per row.",
    )
    parser.add_argument(
        "model_dir", type=_existing_dir, metavar="MODEL_DIR", help="folder written by mlchat train"
    )
    parser.add_argument("file", type=_existing_file, metavar="FILE", help="table to predict")
    parser.add_argument(
        "--out", type=Path, metavar="CSV", help="output CSV (default <file>-predictions.csv)"
    )
    _add_sheet(parser)
    parser.set_defaults(handler=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from tools.predict import predict_file

    write = _writer(sys.stdout)
    out = args.out or Path.cwd() / f"{args.file.stem}-predictions.csv"
    recorded = _recorded_model(args.model_dir)
    if recorded is not None:  # a chat's run folder: load it only if training wrote it
        model, schema = recorded
        result = predict_file(
            model,
            args.file,
            out=out,
            sheet=args.sheet,
            schema=schema,
            max_bytes=_max_upload_bytes(),
        )
    else:  # a folder the user names (mlchat train --out) is the user's own
        result = predict_file(
            args.model_dir, args.file, out=out, sheet=args.sheet, max_bytes=_max_upload_bytes()
        )
    write(result.summary())
    if result.preview:
        columns = list(result.preview[0])
        rows = [[_cell(row[c]) for c in columns] for row in result.preview]
        write(_table(columns, rows))
    return EXIT_OK


def _max_upload_bytes() -> int:
    """The upload limit the chat uses (``MLCHAT_MAX_UPLOAD_MB``); files read here honour it."""
    from assistant.settings import Settings

    return Settings.from_env().max_upload_mb << 20


def _recorded_model(model_dir: Path) -> tuple[Any, Any] | None:
    """The verified model of a conversation's run folder, or None for any other folder.

    Run folders inside the data folder's workspaces are written by the chat's
    worker, which records each model's sha256: those load only when it matches.
    """
    from assistant.settings import Settings

    settings = Settings.from_env()
    workspaces = settings.data_dir / "workspaces"
    lexical = Path(os.path.normpath(model_dir.absolute()))
    if not any(lexical.is_relative_to(w) for w in (workspaces, workspaces.resolve())):
        return None
    from assistant.store import Database, RunStore
    from assistant.verified_models import load_run_model

    run = None
    if settings.has_store:
        db = Database(settings.store_location)
        try:
            run = RunStore(db).get(lexical.name)
        finally:
            db.close()
    if run is None or Path(run.artifacts.get("run_dir", "")).name != lexical.name:
        raise UserFacingError(
            f"“{lexical.name}” is inside mlchat's data folder but is not a run it recorded, "
            "so its model will not be loaded."
        )
    return load_run_model(run)


# ---------------------------------------------------------------------------
# mlchat profile
# ---------------------------------------------------------------------------


def _add_profile(commands: Any) -> None:
    parser = commands.add_parser(
        "profile",
        help="show column types, missing values, the task and data warnings",
        description="Profile FILE: per-column kind, missing share, distinct values and summary, "
        "the task the target implies, and warnings an expert would give.",
    )
    parser.add_argument("file", type=_existing_file, metavar="FILE", help="table to profile")
    parser.add_argument("--target", metavar="COL", help="column you want to predict")
    _add_sheet(parser)
    parser.add_argument("--json", action="store_true", help="print the full profile as JSON")
    parser.set_defaults(handler=_cmd_profile)


def _cmd_profile(args: argparse.Namespace) -> int:
    from tools.analyze.profile import profile_table
    from tools.io.load import load_table, resolve_column
    from tools.io.raw_rows import label_target

    table = load_table(args.file, sheet=args.sheet, max_bytes=_max_upload_bytes())
    target = resolve_column(table.frame.columns, args.target) if args.target else None
    frame = label_target(table.frame, target, table.parser) if target else table.frame
    profile = profile_table(frame, target=target)
    if args.json:
        json.dump(profile.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        _writer(sys.stdout)(_profile_text(args.file.name, profile, table.notes))
    return EXIT_OK


# ---------------------------------------------------------------------------
# text rendering
# ---------------------------------------------------------------------------


def _writer(stream: TextIO) -> Callable[[str], None]:
    def write(text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    return write


def _profile_text(name: str, profile: Any, notes: Sequence[str]) -> str:
    lines = [f"{name}: {profile.n_rows:,} rows x {profile.n_columns} columns"]
    if profile.target:
        lines.append(f"Target “{profile.target}”: {profile.task}. {profile.task_reason}")
    rows = [
        [
            column.name + (" (target)" if column.name == profile.target else ""),
            column.kind,
            f"{column.missing_share:.0%}",
            f"{column.n_unique:,}",
            _column_summary(column.kind, column.stats),
        ]
        for column in profile.columns
    ]
    lines.append(_table(["column", "kind", "missing", "distinct", "summary"], rows))
    lines += [f"note: {note}" for note in notes]
    if profile.warnings:
        lines.append("Warnings")
        lines += [f"  - {warning.message}" for warning in profile.warnings]
    return "\n".join(lines)


def _column_summary(kind: str, stats: dict[str, Any]) -> str:
    if "mean" in stats:
        return (
            f"mean {_number(stats['mean'])}, median {_number(stats.get('p50'))}, "
            f"{_number(stats.get('min'))} to {_number(stats.get('max'))}"
        )
    if "true_share" in stats:
        return f"{float(stats['true_share']):.0%} true"
    if kind == "datetime" and "min" in stats:
        return f"{str(stats['min'])[:10]} to {str(stats.get('max', ''))[:10]}"
    tops = [
        f"{stats[f'top_{i}']} ({stats.get(f'top_{i}_count', '?')})"
        for i in range(1, 4)
        if f"top_{i}" in stats
    ]
    return ", ".join(tops)


def _number(value: Any) -> str:
    if value is None:
        return "?"
    number = float(value)
    if number == int(number) and abs(number) < 1e12:
        return f"{int(number):,}"
    return f"{number:,.3g}" if abs(number) < 1e6 else f"{number:.3g}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, max_width: int = 48) -> str:
    cut = [[_clip(str(cell), max_width) for cell in row] for row in rows]
    widths = [
        max(len(h), *(len(row[i]) for row in cut)) if cut else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cut
    ]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _metric_lines(metrics: dict[str, float]) -> str:
    return "\n".join(f"{name:<32} {value:.4f}" for name, value in metrics.items())


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
