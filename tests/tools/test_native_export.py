"""The native-category choice is part of what a run ships: ``model.joblib`` on raw rows,
the exported ``train.py`` and its ``retrained_model.joblib`` all carry it (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn import config_context
from sklearn.base import clone

from assistant.cli import main
from tests.tools.scripts import run_exported_script
from tools.analyze.profile import profile_table
from tools.export.folder import export_run
from tools.io.load import load_table
from tools.io.raw_rows import label_target
from tools.plan import build_plan
from tools.search.train import train


def _raw_cities(n: int, seed: int) -> pd.DataFrame:
    """Rows as a user exports them: a city, a yes/no flag, a number, a yes/no target."""
    rng = np.random.default_rng(seed)
    names = [f"city_{i:02d}" for i in range(12)]
    effect = dict(
        zip(names, np.random.default_rng(0).permutation(np.linspace(-2, 2, 12)), strict=True)
    )
    city = rng.choice(names, n)
    garden = rng.choice(["yes", "no"], n)
    size = rng.normal(size=n)
    score = np.array([effect[c] for c in city]) + 0.5 * (garden == "yes") + 0.5 * rng.normal(size=n)
    target = np.where(score > 0, "yes", "no")
    return pd.DataFrame({"city": city, "garden": garden, "size": size.round(3), "bought": target})


def _repr(pipeline: object) -> str:
    with config_context(print_changed_only=False):
        return "".join(pipeline.__repr__(N_CHAR_MAX=100_000).split())  # type: ignore[call-arg]


@pytest.fixture(scope="module", params=["lightgbm", "catboost"])
def native_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A run folder whose shipped model handles the categories itself."""
    family = request.param
    folder = tmp_path_factory.mktemp(f"native_{family}")
    data = folder / "cities.csv"
    _raw_cities(400, seed=1).to_csv(data, index=False)
    table = load_table(data)
    frame = label_target(table.frame, "bought", table.parser)  # as `mlchat train` does
    profile = profile_table(frame, target="bought")
    plan = build_plan(profile, models=[family], budget_s=20, seed=3)
    # Asked for outright, so the test does not hang on which variant cross-validation prefers.
    params = {
        family: {
            "native_categoricals": True,
            **({"iterations": 100} if family == "catboost" else {}),
        }
    }
    result = train(frame, plan, profile=profile, params=params)
    run = folder / "run"
    export_run(
        result,
        out_dir=run,
        frame=frame,
        data_path=data,
        target_words=table.boolean_words.get("bought"),
        parser=table.parser,
    )
    return family, result, run, data


# CatBoost only: LightGBM's variant is the same CategoryColumns step without cat_features,
# and each script run costs about 5 s.
@pytest.mark.parametrize("native_run", ["catboost"], indirect=True)
def test_the_script_rebuilds_the_shipped_native_pipeline(native_run) -> None:
    _, result, run, data = native_run
    shipped = result.model.pipeline_
    assert "categories" in shipped.named_steps  # the run did ship the native variant

    score, _ = run_exported_script(run / "train.py", data)
    source = (run / "train.py").read_text()
    code = (
        "import joblib, pandas as pd, sys\n"
        "saved = joblib.load(sys.argv[1])\n"
        "frame = pd.read_csv(sys.argv[2])\n"
        "from sklearn import config_context\n"
        "with config_context(print_changed_only=False):\n"
        "    print(''.join(saved['pipeline'].__repr__(N_CHAR_MAX=100_000).split()))\n"
        "print(len(saved['pipeline'].predict(frame[saved['features']])))\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code, str(run / "retrained_model.joblib"), str(data)],
        capture_output=True,
        text=True,
        cwd=run.parent,
        timeout=120,
        check=False,
    )

    assert "class CategoryColumns" in source and "CategoryColumns(columns=(1, 2))" in source
    assert "cat_features=(1, 2)" in source
    assert abs(score - result.leaderboard[0].score) <= 0.03
    report = json.loads((run / "report.json").read_text())
    assert report["choices"]["native_categories"] == ["city", "garden"]
    assert (
        "handled by the model itself (cross-validation preferred it to ordinal codes): `city`, `garden`"
        in (run / "model_card.md").read_text()
    )
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    rebuilt, n_predicted = fresh.stdout.split()
    assert rebuilt == _repr(clone(shipped)).replace("Stoppable", "")
    assert int(n_predicted) == 400


def test_the_saved_native_model_on_raw_rows_equals_mlchat_predict(
    native_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, run, _ = native_run
    new_rows = tmp_path / "new.csv"
    fresh = _raw_cities(60, seed=9).drop(columns=["bought"])
    fresh.loc[0, "city"] = "a city never seen"
    fresh.to_csv(new_rows, index=False)
    monkeypatch.setenv("MLCHAT_DATA_DIR", str(tmp_path / "data"))
    assert main(["predict", str(run), str(new_rows), "--out", str(tmp_path / "preds.csv")]) == 0
    written = pd.read_csv(tmp_path / "preds.csv", keep_default_na=False)

    saved = joblib.load(run / "model.joblib")
    raw = pd.read_csv(new_rows)

    assert sorted(saved.classes_) == ["no", "yes"]  # the file's words, not booleans
    assert saved.predict(raw).tolist() == written["prediction"].tolist()
    yes = list(saved.classes_).index("yes")
    np.testing.assert_allclose(saved.predict_proba(raw)[:, yes], written["proba_yes"], rtol=1e-9)
