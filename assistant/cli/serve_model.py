"""``mlchat serve-model RUN --port N``: put a conversation's trained model behind HTTP.

RUN is a run id (the chat's "deploy the model" and ``mlchat chat`` name it) or
``latest``. The model is loaded only after its sha256 matches what the training
worker recorded (:func:`assistant.verified_models.load_run_model`); the service
itself is :mod:`assistant.model_service`. Register the command with
:func:`add_serve_model`.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from assistant.settings import Settings
from tools.errors import UserFacingError

log = logging.getLogger(__name__)

DEFAULT_PORT = 8100


def add_serve_model(commands: Any) -> None:
    """Register ``mlchat serve-model`` on the CLI's subcommand tree."""
    parser = commands.add_parser(
        "serve-model",
        help="serve a trained model over HTTP (FastAPI: JSON rows, CSV files, /health)",
        description=(
            "Serve the model of a training run over HTTP: POST /predict (JSON rows), "
            "POST /predict/csv (a CSV file), GET /health, and the API schema at /docs. "
            "RUN is a run id, or “latest” for the newest finished run with a model."
        ),
    )
    parser.add_argument("run", metavar="RUN", help="run id, or latest")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.set_defaults(handler=_cmd_serve_model)


def _cmd_serve_model(args: argparse.Namespace) -> int:
    import uvicorn

    from assistant.model_service import build_service, curl_example

    served, example = load_served(Settings.from_env(), args.run)
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"Serving {served.title} (run {served.run_id}) at {url}", flush=True)
    print(f"API schema: {url}/docs   health: {url}/health\nTry:\n{curl_example(url, example)}")
    uvicorn.run(
        build_service(served), host=args.host, port=args.port, log_level="warning", access_log=False
    )
    return 0


def load_served(settings: Settings, run_ref: str) -> tuple[Any, dict[str, Any]]:
    """The checked model of run ``run_ref`` (or the latest), and an example input row.

    Raises :class:`~tools.errors.UserFacingError` naming what is wrong: no such run,
    no model, or a model file that is not the one training wrote.
    """
    from assistant.model_service import ServedModel, example_row
    from assistant.store import ConversationStore, Database, RunStore
    from assistant.toolbox._format import family_label
    from assistant.toolbox._tables import load_dataset
    from assistant.verified_models import load_run_model

    if not settings.has_store:
        raise UserFacingError(f"No runs yet: {settings.data_dir} has no database.")
    db = Database(settings.store_location)
    try:
        runs = RunStore(db)
        if run_ref == "latest":
            finished = [r for r in runs.all(status="finished") if r.artifacts.get("model")]
            run = finished[-1] if finished else None
        else:
            run = runs.get(run_ref)
        if run is None or not run.artifacts.get("model"):
            raise UserFacingError(
                f"There is no trained model for run “{run_ref}”. Name a run id the chat "
                "gave, or say latest."
            )
        datasets = ConversationStore(db).datasets(run.thread_id) if run.thread_id else []
    finally:
        db.close()
    model, schema = load_run_model(run)
    if schema is None:
        raise UserFacingError(
            f"Run {run.id} has no training schema (schema.json); train again to serve it."
        )
    best = run.metrics.get("best_family", "model")
    served = ServedModel(
        model=model,
        schema=schema,
        run_id=run.id,
        title=f"{family_label(str(best))} predicting “{schema.target}”",
        max_bytes=settings.max_upload_mb << 20,
    )
    example: dict[str, Any] = {column: None for column in schema.input_columns}
    record = next((d for d in datasets if d.id == run.dataset_id), None)
    if record is not None:
        try:
            frame = load_dataset(record, max_bytes=settings.max_upload_mb << 20).frame
            example = example_row(frame, schema)
        except (OSError, UserFacingError) as exc:  # the example is a nicety
            log.info("serve_example_skipped reason=%s", type(exc).__name__)
    return served, example
