"""Tools that use the trained model: leaderboard, files, explain, predict, suggestions."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from assistant.context import ToolContext
from assistant.errors import ProviderError, ToolError
from assistant.events import Figure, File, Table
from assistant.improvements import Suggestion, suggest_with_model
from assistant.providers.usage import CallContext
from assistant.store import RunRecord
from assistant.toolbox._format import (
    family_label,
    for_model,
    leaderboard_table,
    metrics_table,
    quoted,
    quoted_list,
    round_sig,
)
from assistant.toolbox._runs import FILE_TITLES, latest_run, run_figures
from assistant.toolbox._tables import load_dataset
from assistant.toolkit import ToolResult
from assistant.untrusted import cap
from assistant.verified_models import load_run_model, run_workspace
from assistant.workspace import safe_file_name
from tools.analyze.task import prepare_target
from tools.errors import UserFacingError
from tools.explain.feature import explain_feature
from tools.explain.importance import FeatureImportance
from tools.io.raw_rows import fitted_model, label_target
from tools.predict import predict_file as predict_table

log = logging.getLogger(__name__)


def show_leaderboard(ctx: ToolContext) -> ToolResult:
    """Show the leaderboard of the latest training run (every candidate, best first)."""
    run = latest_run(ctx)
    label = run.metrics.get("metric_label", "score")
    rows = [
        {
            "model": family_label(r["family"]),
            "score": round_sig(r["score"]),
            "std": round_sig(r["std"], 2),
            "status": r["status"],
        }
        for r in run.leaderboard
    ]
    summary = f"Leaderboard of run {run.id} ({run.status}), ranked by {label}."
    return ToolResult(
        for_model=for_model({"summary": summary, "metric": label, "leaderboard": rows}),
        for_user=(leaderboard_table(run.leaderboard, label),),
        facts={"metric": label, "leaderboard": rows},
    )


def list_artifacts(ctx: ToolContext) -> ToolResult:
    """Offer the files of the latest trained model for download: the fitted pipeline, model card,
    reproducible script, report and the latest predictions."""
    run = latest_run(ctx, with_model=True)
    files = []
    for key, path_text in run.artifacts.get("files", {}).items():
        path = Path(path_text)
        if key in FILE_TITLES and ctx.files.servable(path):
            title, mime = FILE_TITLES[key]
            files.append(File(path, title, mime))
    predictions = sorted(
        (p for p in ctx.files.folder("predictions").glob("*.csv") if ctx.files.servable(p)),
        key=lambda p: p.lstat().st_mtime,
    )
    if predictions:
        files.append(File(predictions[-1], f"Predictions ({predictions[-1].name})", "text/csv"))
    names = [f.path.name for f in files]
    summary = f"Files of run {run.id}: {', '.join(names)}."
    return ToolResult(
        for_model=for_model({"summary": summary, "files": names}), for_user=tuple(files)
    )


def explain_model(ctx: ToolContext, feature: str | None = None) -> ToolResult:
    """Explain the latest model: its cross-validated metrics, which columns matter most
    (permutation importance) and diagnostic plots; with a feature, why that column matters
    (its importance rank, its relationship with the target, and a partial-dependence plot).

    Args:
        feature: A column to explain, e.g. "tenure"; omit for the whole model.
    """
    run = latest_run(ctx, with_model=True)
    if feature is not None:
        return _explain_one_feature(ctx, run, feature)
    metrics = run.metrics
    label = metrics.get("metric_label", "score")
    best = family_label(metrics.get("best_family", "?"))
    cv = {k: round_sig(v) for k, v in metrics.get("cv_metrics", {}).items()}
    importance = metrics.get("importance", [])
    top = ", ".join(
        f"{quoted(i['column'])} ({round_sig(i['importance'], 3)})" for i in importance[:5]
    )
    summary = f"{best} is the best model; cross-validated {label} {_fmt(cv.get(metrics.get('metric', '')))}."
    expected = metrics.get("expected_metrics", {}).get(metrics.get("metric", ""))
    if expected is not None:
        summary += f" Expected {label} on new data: {_fmt(round_sig(expected))}."
    if top:
        summary += f" Most important columns: {top}."
    figures = run_figures(ctx, metrics.get("figures", []))
    table = metrics_table(
        "Metrics", cv, metrics.get("expected_metrics", {}), name=f"metrics-{run.id}"
    )
    payload = {
        "summary": summary,
        "best_model": best,
        "metric": label,
        "cv_metrics": cv,
        "expected_metrics": {
            k: round_sig(v) for k, v in metrics.get("expected_metrics", {}).items()
        },
        "importance": [{**i, "column": cap(str(i["column"]))} for i in importance[:10]],
        "insights": metrics.get("insights", []),
    }
    return ToolResult(for_model=for_model(payload), for_user=(table, *figures), facts=payload)


def predict_file(ctx: ToolContext, dataset_id: str | None = None) -> ToolResult:
    """Apply the latest trained model to an attached file and offer the predictions as a CSV
    (with class probabilities for classification). Columns are checked against training.

    Args:
        dataset_id: Dataset id of the new file such as "d2"; the newest attached file when omitted.
    """
    run = latest_run(ctx, with_model=True)
    record = ctx.dataset(dataset_id)
    if record.id == run.dataset_id and dataset_id is None:
        raise ToolError(
            f"The newest file ({record.name}) is the one the model was trained on. Ask the user to "
            "attach the file to predict on, or pass its dataset_id explicitly."
        )
    out = ctx.files.folder("predictions") / safe_file_name(
        f"{Path(record.name).stem}-predictions.csv"
    )
    model, schema = load_run_model(run)
    result = predict_table(
        model, record.path, out=out, schema=schema, max_bytes=ctx.settings.max_upload_mb << 20
    )
    preview = result.preview[:5]
    columns = tuple(preview[0].keys()) if preview else ()
    table = Table(
        f"Predictions for {record.name} (first rows)",
        columns,
        tuple(tuple(row.values()) for row in preview),
        name=f"predictions-{record.id}",
    )
    payload = {
        "summary": result.summary(),
        "rows": result.n_rows,
        "file": out.name,
        "extra_columns": list(result.extra_columns),
        "unseen_categories": result.unseen_categories,
    }
    return ToolResult(
        for_model=for_model(payload),
        for_user=(table, File(out, f"Predictions ({out.name})", "text/csv")),
        facts=payload,
    )


async def suggest_improvements(ctx: ToolContext) -> ToolResult:
    """Suggest what would most likely improve the latest model, from its data profile and
    leaderboard (more data, class imbalance, leakage, tuning, feature ideas)."""
    run = latest_run(ctx, with_model=True)
    suggestions = _rule_suggestions(run)
    written = await _model_suggestions(ctx, run, suggestions)
    if written:
        payload = {
            "summary": f"{len(written)} suggestion(s) for run {run.id}, from the run's facts.",
            "suggestions": [s.line() for s in written],
        }
    else:
        summary = f"{len(suggestions)} suggestion(s) for run {run.id}."
        payload = {"summary": summary, "suggestions": suggestions}
    return ToolResult(for_model=for_model(payload), facts=payload)


async def _model_suggestions(
    ctx: ToolContext, run: RunRecord, rule_suggestions: list[str]
) -> list[Suggestion]:
    """The language model's suggestions (schema-constrained); ``[]`` offline or on failure."""
    chosen = ctx.services.language_model(ctx.thread_id) if ctx.services.language_model else None
    if chosen is None:
        return []
    model, settings = chosen
    metrics = run.metrics
    importance = metrics.get("importance", [])
    facts = {
        "target": metrics.get("target"),
        "task": metrics.get("task"),
        "metric": metrics.get("metric_label") or metrics.get("metric"),
        "rows": metrics.get("n_rows"),
        "warnings": metrics.get("warnings", []),
        "importance": [
            {"column": cap(str(i["column"])), "rank": i.get("rank")} for i in importance[:10]
        ],
        "leaderboard": [
            {k: r.get(k) for k in ("family", "score", "std", "status")} for r in run.leaderboard[:8]
        ],
    }
    try:
        return await suggest_with_model(
            model,
            facts,
            columns=[str(i["column"]) for i in importance],
            rule_suggestions=rule_suggestions,
            settings=settings,
            context=CallContext(ctx.thread_id),
        )
    except (ProviderError, UserFacingError) as exc:  # the rules' suggestions stand alone
        log.info("model_suggestions_failed run=%s error=%s", run.id, type(exc).__name__)
        return []


def _rule_suggestions(run: RunRecord) -> list[str]:
    """What the run's warnings, size, leaderboard and strongest columns suggest."""
    metrics = run.metrics
    suggestions: list[str] = []
    warnings = " ".join(metrics.get("warnings", []))
    n_rows = int(metrics.get("n_rows") or 0)
    if "leak" in warnings.lower():
        suggestions.append(
            "A column looks like it leaks the answer; drop it (set_plan is not enough: remove it from the file) and retrain, or the score is too good to be true."
        )
    if "imbalance" in warnings.lower() or "imbalanced" in warnings.lower():
        suggestions.append(
            "The classes are imbalanced: rank by F1 or balanced accuracy (say “use F1”) and consider collecting more rows of the rare class."
        )
    if n_rows and n_rows < 1_000:
        suggestions.append(
            f"Only {n_rows:,} rows: more labelled rows usually help more than any model change."
        )
    skipped = [r for r in run.leaderboard if r.get("status") == "skipped"]
    if skipped:
        names = ", ".join(family_label(r["family"]) for r in skipped)
        suggestions.append(
            f"{names} did not fit in the time budget; a larger budget (e.g. “use a 5 minute budget”) lets them run."
        )
    ok = [r for r in run.leaderboard if r.get("status") == "ok" and r.get("score") is not None]
    if len(ok) >= 2:
        gap = abs(float(ok[0]["score"]) - float(ok[1]["score"]))
        spread = float(ok[0].get("std") or 0)
        if gap <= spread:
            suggestions.append(
                f"The top two models ({family_label(ok[0]['family'])}, {family_label(ok[1]['family'])}) are within one standard deviation; tuning the best one (“tune it for 2 minutes”) is the cheapest next gain."
            )
    importance = metrics.get("importance", [])
    if importance:
        top = [i["column"] for i in importance[:3]]
        suggestions.append(
            f"Feature ideas around the strongest columns ({quoted_list(top)}): ratios and differences between them, and date parts if any is a date."
            + _feature_example(run, [i["column"] for i in importance[:5]])
        )
    if not suggestions:
        suggestions.append(
            "Tuning the best model for a few minutes is the next step (“tune it for 2 minutes”)."
        )
    return suggestions


def _explain_one_feature(ctx: ToolContext, run: RunRecord, feature: str) -> ToolResult:
    run_dir = Path(run.artifacts["run_dir"])
    saved, _ = load_run_model(run)
    model = fitted_model(saved)
    record = ctx.dataset(run.dataset_id)
    loaded = load_dataset(record, max_bytes=ctx.settings.max_upload_mb << 20)
    target = run.metrics["target"]
    frame = label_target(loaded.frame, target, loaded.parser)
    table, _ = prepare_target(frame, target)
    features = list(model.input_columns_)
    from assistant.context import match_column

    found = match_column(features, feature)
    if found is None:
        raise ToolError(
            f"The model does not use a column named {quoted(feature)}. Its columns: {quoted_list(features)}."
        )
    importance = [
        FeatureImportance(
            column=i["column"], mean=float(i["importance"]), std=0.0, rank=int(i["rank"])
        )
        for i in run.metrics.get("importance", [])
    ]
    ctx.progress(f"Explaining {found}")
    explanation = explain_feature(
        model,
        table.loc[:, features],
        table[target].to_numpy(),
        found,
        task=run.metrics["task"],
        out_dir=run_dir / "figures",
        importance=importance,
        words=loaded.parser.words(found),
    )
    rank_text = (
        f"ranked {explanation.rank} of {explanation.n_features} by permutation importance"
        if explanation.rank is not None
        else "not ranked"
    )
    summary = f"{found} is {rank_text}."
    groups = [
        {"group": g.label, "rows": g.count, explanation.target_label: round_sig(g.target_mean)}
        for g in explanation.groups
    ]
    payload = {
        "summary": summary,
        "feature": found,
        "importance": round_sig(explanation.importance)
        if explanation.importance is not None
        else None,
        "rank": explanation.rank,
        "correlation_with_target": round_sig(explanation.correlation, 3)
        if explanation.correlation is not None
        else None,
        "groups": groups,
        "insights": list(explanation.insights),
    }
    figure = Figure(
        explanation.figure.title,
        plotly_json=explanation.figure.plotly_json,
        png_path=explanation.figure.png_path,
    )
    return ToolResult(for_model=for_model(payload), for_user=(figure,), facts=payload)


def _feature_example(run: RunRecord, columns: list[str]) -> str:
    """A ready-to-say derived feature over the two strongest numeric columns, or ""."""
    try:
        workspace, run_dir = run_workspace(run)
        schema = json.loads(workspace.read_text(run_dir / "schema.json", max_bytes=16 << 20))
    except (OSError, ValueError, KeyError, UserFacingError):
        return ""
    numeric = [c for c in columns if schema.get("kinds", {}).get(c) == "numeric"][:2]
    if len(numeric) < 2:
        return ""
    words = [re.sub(r"[^0-9A-Za-z]+", "_", c).strip("_").lower() for c in numeric]
    name = f"{words[0]}_per_{words[1]}"
    name = name if name[0].isalpha() else f"f_{name}"
    first, second = (c if c.isidentifier() else f"`{c}`" for c in numeric)
    return (
        f" Say “add a feature {name} = {first} / {second}” to try one; "
        "it is kept only if cross-validation improves."
    )


def _fmt(value: Any) -> str:
    return "n/a" if value is None else json.dumps(value)
