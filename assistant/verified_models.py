"""Load a run's model only when it is the file the training worker wrote.

The worker records the sha256 of ``model.joblib`` with the run; unpickling
runs code, so a model whose bytes do not match (replaced, truncated, or a
link) is refused with one sentence instead of loaded. The bytes are hashed
and unpickled from the same read, so nothing can swap the file in between.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import joblib

from assistant.store import RunRecord
from assistant.workspace import Workspace
from tools.errors import UserFacingError
from tools.io import safe_files
from tools.legacy_pickles import install as install_legacy_pickles
from tools.predict import MODEL_FILE, SCHEMA_FILE, TrainingSchema

log = logging.getLogger(__name__)

_MAX_SCHEMA_BYTES = 16 << 20


class ModelIntegrityError(UserFacingError):
    """The saved model is not the file training wrote."""


def run_workspace(run: RunRecord) -> tuple[Workspace, Path]:
    """The workspace holding ``run``'s folder, and that folder."""
    run_dir = Path(run.artifacts["run_dir"])
    return Workspace(run_dir.parent.parent), run_dir


def load_run_model(run: RunRecord) -> tuple[Any, TrainingSchema | None]:
    """``run``'s fitted pipeline and training schema, after checking the model's sha256.

    Raises :class:`ModelIntegrityError` when no checksum was recorded or it does not
    match, and :class:`~tools.errors.UserFacingError` when the file is a link or missing.
    """
    expected = run.artifacts.get("model_sha256")
    workspace, run_dir = run_workspace(run)
    data = workspace.read_bytes(run_dir / MODEL_FILE)
    if not expected or safe_files.sha256_hex(data) != expected:
        log.warning("model_refused run=%s reason=checksum", run.id)
        raise ModelIntegrityError(
            f"The saved model of run {run.id} is not the file training wrote (its checksum "
            "does not match), so I will not load it; train again to get a fresh model."
        )
    install_legacy_pickles()  # runs saved before the engine's modules moved
    model = joblib.load(io.BytesIO(data))
    schema = None
    if safe_files.is_regular_beneath(workspace.root, run_dir / SCHEMA_FILE):
        text = workspace.read_text(run_dir / SCHEMA_FILE, max_bytes=_MAX_SCHEMA_BYTES)
        schema = TrainingSchema.from_dict(json.loads(text))
    return model, schema
