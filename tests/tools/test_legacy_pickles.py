"""A model.joblib saved before the engine's modules moved still loads in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from tools import legacy_pickles
from tools.io.columns import RawTableParser
from tools.io.raw_rows import RawRowsModel, saved_pipeline
from tools.models.estimator import TabularModel
from tools.models.stoppable import StoppableLGBMClassifier

ROOT = Path(__file__).resolve().parents[2]


def test_a_model_saved_under_the_old_module_names_still_predicts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(np.where(frame["a"] > 0, "yes", "no"))
    model = TabularModel("lightgbm", "binary", (("a", "numeric"), ("b", "numeric")))
    saved = saved_pipeline(model.fit(frame, y), RawTableParser())
    legacy_pickles.install()
    moved = {RawRowsModel: "tools.raw_parsing", StoppableLGBMClassifier: "tools.stoppable"}
    current = {cls: cls.__module__ for cls in moved}
    try:
        for cls, old in moved.items():
            cls.__module__ = old  # pickle the names an older version wrote
        joblib.dump(saved, tmp_path / "model.joblib")
    finally:
        for cls, module in current.items():
            cls.__module__ = module
    assert b"tools.raw_parsing" in (tmp_path / "model.joblib").read_bytes()
    frame.head(5).to_csv(tmp_path / "rows.csv", index=False)

    code = (
        "import sys, pandas as pd; from pathlib import Path; "
        "from tools.predict import load_model; "
        "model, _ = load_model(Path(sys.argv[1])); "
        "print(' '.join(model.predict(pd.read_csv(Path(sys.argv[1]) / 'rows.csv'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2_000:]
    assert done.stdout.split() == list(saved.predict(frame.head(5)))
