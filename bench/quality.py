"""AutoML quality benchmark: this engine against FLAML and AutoGluon at the same budgets.

Every dataset is bundled with scikit-learn or generated here (nothing is
downloaded); none of them was used to learn our defaults (the warm-start portfolio
is learned on ``bench/portfolio_data.py``). For each dataset, budget and seed
(``--seeds``, default 3) every system gets the same 75/25 train/test split
(stratified for classification, ``random_state`` = the seed) and the same metric
(the engine's default for the task: ROC AUC, log loss or RMSE). Ours runs profile
-> plan -> train, tune, ensemble with the budget; FLAML runs
``AutoML.fit(time_budget=budget)``; AutoGluon runs ``TabularPredictor.fit`` with the
``medium_quality`` preset and ``time_limit=budget`` on the CPU in its own virtualenv
(``bash bench/setup_autogluon.sh``; ``bench/autogluon_runner.py``). Every system's
test predictions are scored here with the same metric code (:mod:`tools.metrics`).

    python bench/quality.py --budgets 10,60          # the whole suite, 3 seeds
    python bench/quality.py --quick --seeds 1        # 2-dataset smoke run
    python bench/quality.py --datasets wine,mixed_churn --budgets 10

Prints one table per budget (medians over seeds) and writes it to
``bench/results/quality-<budget>.md``. "rel vs X" is ours minus X on a
higher-is-better scale (positive on RMSE means ours has the lower RMSE), relative to
X's value. Within 0.5% counts as a tie.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.analyze.profile import profile_table  # noqa: E402
from tools.metrics import MetricSpec, default_metric, resolve_metric  # noqa: E402
from tools.plan import build_plan  # noqa: E402
from tools.search.automl import fit_automl  # noqa: E402
from tools.search.train import train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TIE = 0.005
_AUTOGLUON_METRIC = {
    "roc_auc": "roc_auc",
    "log_loss": "log_loss",
    "root_mean_squared_error": "root_mean_squared_error",
}
_FLAML_METRIC = {
    "roc_auc": "roc_auc",
    "roc_auc_ovr": "roc_auc_ovr",
    "log_loss": "log_loss",
    "accuracy": "accuracy",
    "f1": "f1",
    "f1_macro": "macro_f1",
    "average_precision": "ap",
    "root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
    "r2": "r2",
    "mean_absolute_percentage_error": "mape",
}


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    frame: pd.DataFrame
    target: str
    task: str
    """binary, multiclass or regression."""


@dataclass(frozen=True, slots=True)
class Run:
    """One system on one dataset and split: its test value, wall time and chosen model."""

    value: float
    wall_s: float
    best: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """One dataset at one budget: each system's median test value over the seeds."""

    dataset: str
    task: str
    metric: str
    runs: dict[str, list[Run]]
    """System ("ours", "FLAML", "AutoGluon") -> one run per seed."""

    def median(self, system: str) -> float:
        return float(np.median([r.value for r in self.runs[system]]))

    def wall(self, system: str) -> float:
        return float(np.median([r.wall_s for r in self.runs[system]]))

    def relative(self, spec: MetricSpec, system: str) -> float:
        """Ours minus ``system`` on a higher-is-better scale, relative to ``system``'s value."""
        theirs = self.median(system)
        return (spec.to_score(self.median("ours")) - spec.to_score(theirs)) / max(
            abs(theirs), 1e-12
        )


# --- datasets ---------------------------------------------------------------------------


def _bundled(loader: Callable[..., object], target: str, task: str, name: str) -> Dataset:
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns={"target": target})
    if task != "regression":
        names = getattr(bunch, "target_names", None)
        if names is not None and len(names) == frame[target].nunique():
            frame[target] = np.asarray(names)[frame[target].to_numpy()]
    return Dataset(name, frame, target, task)


def _digits() -> Dataset:
    bunch = skd.load_digits(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "digit"})
    frame["digit"] = frame["digit"].map(lambda d: f"d{d}")
    return Dataset("digits", frame, "digit", "multiclass")


def _make_classification() -> Dataset:
    X, y = skd.make_classification(
        n_samples=3000, n_features=20, n_informative=8, n_redundant=4, random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = y
    return Dataset("make_classification", frame, "label", "binary")


def _make_regression() -> Dataset:
    X, y = skd.make_regression(
        n_samples=3000, n_features=15, n_informative=8, noise=20.0, random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["y"] = y
    return Dataset("make_regression", frame, "y", "regression")


def _imbalanced() -> Dataset:
    X, y = skd.make_classification(
        n_samples=4000,
        n_features=12,
        n_informative=5,
        weights=[0.95, 0.05],
        flip_y=0.01,
        random_state=1,
    )
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["fraud"] = np.where(y == 1, "fraud", "ok")
    return Dataset("imbalanced", frame, "fraud", "binary")


def _mixed_churn(n_rows: int = 5000, seed: int = 0) -> Dataset:
    """Categoricals, a high-cardinality zip code, missing values, dates, 15% positives."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n_rows).astype(float)
    monthly = rng.gamma(3.0, 25.0, n_rows)
    contract = rng.choice(["monthly", "yearly", "two-year"], n_rows, p=[0.55, 0.3, 0.15])
    payment = rng.choice(["card", "bank", "check", "cash"], n_rows)
    zip_codes = np.array([f"Z{i:03d}" for i in range(300)])
    zip_effect = dict(zip(zip_codes, rng.normal(0, 0.8, 300), strict=True))
    zip_code = rng.choice(zip_codes, n_rows)
    signup = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1400, n_rows), "D")
    calls = rng.poisson(1.2, n_rows)
    logit = (
        -2.6
        - 0.035 * tenure
        + 0.012 * monthly
        + 0.45 * calls
        + np.where(contract == "monthly", 1.2, np.where(contract == "yearly", 0.0, -0.8))
        + np.where(payment == "check", 0.6, 0.0)
        + np.vectorize(zip_effect.get)(zip_code)
        + 0.4 * (signup.month.isin([11, 12])).astype(float)
    )
    churn = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "tenure": tenure,
            "monthly": np.round(monthly, 2),
            "contract": contract,
            "payment": payment,
            "zip": zip_code,
            "signup": signup,
            "calls": calls,
            "churn": np.where(churn, "yes", "no"),
        }
    )
    for column, share in (("monthly", 0.08), ("payment", 0.05), ("tenure", 0.03)):
        frame.loc[rng.random(n_rows) < share, column] = np.nan
    return Dataset("mixed_churn", frame, "churn", "binary")


def _skewed_price(n_rows: int = 5000, seed: int = 1) -> Dataset:
    """A heavy-tailed (log-normal) regression target with categoricals, dates and gaps."""
    rng = np.random.default_rng(seed)
    area = rng.gamma(4.0, 30.0, n_rows)
    rooms = rng.integers(1, 8, n_rows)
    city = rng.choice(["north", "south", "east", "west", "centre"], n_rows)
    city_effect = {"north": 0.1, "south": -0.2, "east": 0.0, "west": 0.15, "centre": 0.6}
    built = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 25_000, n_rows), "D")
    age = (pd.Timestamp("2025-01-01") - built).days / 365.25
    log_price = (
        10.5
        + 0.9 * np.log(area)
        + 0.05 * rooms
        + np.vectorize(city_effect.get)(city)
        - 0.006 * age
        + rng.normal(0, 0.35, n_rows)
    )
    frame = pd.DataFrame(
        {
            "area": np.round(area, 1),
            "rooms": rooms,
            "city": city,
            "built": built,
            "condition": rng.choice(["new", "good", "fair", "poor"], n_rows),
            "price": np.round(np.exp(log_price), -2),
        }
    )
    frame.loc[rng.random(n_rows) < 0.06, "area"] = np.nan
    frame.loc[rng.random(n_rows) < 0.04, "condition"] = np.nan
    return Dataset("skewed_price", frame, "price", "regression")


def _high_card(n_rows: int = 6000, seed: int = 2) -> Dataset:
    """A 1,500-level merchant with a real effect, a 2,000-level pure-noise referrer, ~20% positives."""
    rng = np.random.default_rng(seed)
    merchants = np.array([f"M{i:04d}" for i in range(1500)])
    merchant_effect = dict(zip(merchants, rng.normal(0, 1.0, len(merchants)), strict=True))
    popularity = 1.0 / np.arange(1, len(merchants) + 1) ** 0.9  # a long tail of small merchants
    merchant = rng.choice(merchants, n_rows, p=popularity / popularity.sum())
    referrer = rng.choice([f"R{i:04d}" for i in range(2000)], n_rows)
    amount = rng.lognormal(3.5, 1.0, n_rows)
    hour = rng.integers(0, 24, n_rows)
    channel = rng.choice(["web", "app", "store"], n_rows, p=[0.5, 0.3, 0.2])
    logit = (
        -2.0
        + np.vectorize(merchant_effect.get)(merchant)
        + 0.35 * np.log(amount)
        - 0.6 * np.cos(2 * np.pi * hour / 24)
        + np.where(channel == "app", 0.4, 0.0)
        - 1.2
    )
    frame = pd.DataFrame(
        {
            "merchant": merchant,
            "referrer": referrer,
            "amount": np.round(amount, 2),
            "hour": hour,
            "channel": channel,
            "disputed": np.where(rng.random(n_rows) < 1 / (1 + np.exp(-logit)), "yes", "no"),
        }
    )
    return Dataset("high_card", frame, "disputed", "binary")


def _rare_positive(n_rows: int = 10_000, seed: int = 3) -> Dataset:
    """1.5% positives: 12 numeric features (4 informative, one interaction), 2 categoricals."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 12))
    kind = rng.choice(["a", "b", "c", "d"], n_rows)
    region = rng.choice([f"r{i}" for i in range(12)], n_rows)
    logit = (
        -5.9
        + 1.2 * X[:, 0]
        + 0.8 * X[:, 1]
        - 0.7 * X[:, 2]
        + 0.9 * X[:, 3] * X[:, 0]
        + np.where(kind == "d", 1.0, 0.0)
    )
    frame = pd.DataFrame(X, columns=[f"v{i}" for i in range(12)])
    frame["kind"] = kind
    frame["region"] = region
    frame["fault"] = np.where(rng.random(n_rows) < 1 / (1 + np.exp(-logit)), "fault", "ok")
    return Dataset("rare_positive", frame, "fault", "binary")


def _wide(n_rows: int = 2000, seed: int = 4) -> Dataset:
    """300 numeric columns, 15 informative and 10 redundant, the rest noise."""
    X, y = skd.make_classification(
        n_samples=n_rows,
        n_features=300,
        n_informative=15,
        n_redundant=10,
        flip_y=0.03,
        random_state=seed,
    )
    frame = pd.DataFrame(X, columns=[f"g{i:03d}" for i in range(X.shape[1])])
    frame["responder"] = np.where(y == 1, "yes", "no")
    return Dataset("wide", frame, "responder", "binary")


def _zero_inflated(n_rows: int = 5000, seed: int = 5) -> Dataset:
    """Insurance-like claims: ~65% zeros, the rest log-normal with a heavy tail."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 85, n_rows).astype(float)
    power = rng.gamma(5.0, 15.0, n_rows)
    region = rng.choice([f"R{i:02d}" for i in range(40)], n_rows)
    region_effect = dict(zip(sorted(set(region)), rng.normal(0, 0.4, 40), strict=True))
    vehicle = rng.choice(["city", "family", "sport", "van"], n_rows, p=[0.4, 0.35, 0.1, 0.15])
    bonus = rng.uniform(0.5, 1.5, n_rows)
    effect = np.vectorize(region_effect.get)(region)
    risk = -1.3 + 0.02 * (45 - age).clip(0) + 0.5 * (vehicle == "sport") + effect + 0.6 * bonus
    has_claim = rng.random(n_rows) < 1 / (1 + np.exp(-risk))
    size = np.exp(6.5 + 0.006 * power + 0.6 * (vehicle == "van") + rng.normal(0, 1.0, n_rows))
    frame = pd.DataFrame(
        {
            "age": age,
            "power": np.round(power, 1),
            "region": region,
            "vehicle": vehicle,
            "bonus": np.round(bonus, 2),
            "claims": np.round(np.where(has_claim, size, 0.0), 2),
        }
    )
    frame.loc[rng.random(n_rows) < 0.05, "power"] = np.nan
    return Dataset("zero_inflated", frame, "claims", "regression")


SUITE: dict[str, Callable[[], Dataset]] = {
    "breast_cancer": lambda: _bundled(
        skd.load_breast_cancer, "diagnosis", "binary", "breast_cancer"
    ),
    "wine": lambda: _bundled(skd.load_wine, "cultivar", "multiclass", "wine"),
    "iris": lambda: _bundled(skd.load_iris, "species", "multiclass", "iris"),
    "diabetes": lambda: _bundled(skd.load_diabetes, "progression", "regression", "diabetes"),
    "digits": _digits,
    "make_classification": _make_classification,
    "make_regression": _make_regression,
    "imbalanced": _imbalanced,
    "mixed_churn": _mixed_churn,
    "skewed_price": _skewed_price,
    "high_card": _high_card,
    "rare_positive": _rare_positive,
    "wide": _wide,
    "zero_inflated": _zero_inflated,
}
QUICK = ("breast_cancer", "mixed_churn")


# --- running ---------------------------------------------------------------------------


def _split(data: Dataset, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    stratify = data.frame[data.target] if data.task != "regression" else None
    return train_test_split(data.frame, test_size=0.25, random_state=seed, stratify=stratify)


def _test_value(spec: MetricSpec, y_test: pd.Series, model: object, X_test: pd.DataFrame) -> float:
    if spec.needs_proba:
        classes = list(model.classes_)
        return spec.compute(y_test.to_numpy(), None, model.predict_proba(X_test), classes=classes)
    classes = list(getattr(model, "classes_", [])) or None
    return spec.compute(y_test.to_numpy(), model.predict(X_test), None, classes=classes)


def run_ours(
    data: Dataset,
    train_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    budget_s: float,
    seed: int,
    engine: str = "automl",
) -> Run:
    started = time.monotonic()
    profile = profile_table(train_rows, target=data.target)
    plan = build_plan(profile, budget_s=budget_s, seed=seed)
    if engine == "automl":
        result = fit_automl(train_rows, plan, profile=profile)
    else:
        result = train(train_rows, plan, profile=profile)
    wall = time.monotonic() - started
    spec = resolve_metric(plan.metric, plan.task)
    X_test = test_rows.drop(columns=[data.target])
    value = _test_value(spec, test_rows[data.target], result.model, X_test)
    return Run(value, wall, result.best_family)


def run_flaml(
    data: Dataset,
    train_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    budget_s: float,
    metric: str,
    seed: int,
) -> Run:
    from flaml import AutoML

    logging.getLogger("flaml").setLevel(logging.WARNING)
    spec = resolve_metric(metric, data.task)  # type: ignore[arg-type]
    automl = AutoML()
    X_train = train_rows.drop(columns=[data.target])
    started = time.monotonic()
    automl.fit(
        X_train=X_train,
        y_train=train_rows[data.target],
        task="regression" if data.task == "regression" else "classification",
        metric=_FLAML_METRIC[spec.name],
        time_budget=budget_s,
        seed=seed,
        verbose=0,
    )
    wall = time.monotonic() - started
    value = _test_value(spec, test_rows[data.target], automl, test_rows.drop(columns=[data.target]))
    return Run(value, wall, str(automl.best_estimator))


def run_autogluon(
    data: Dataset,
    train_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    budget_s: float,
    metric: str,
    python: Path,
) -> Run:
    """AutoGluon (medium_quality preset, CPU) in its own virtualenv, scored here."""
    spec = resolve_metric(metric, data.task)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="mlchat-ag-") as folder:
        base = Path(folder)
        # Parquet keeps the dtypes; dates become strings as in a CSV.
        for name, rows in (("train", train_rows), ("test", test_rows)):
            rows.reset_index(drop=True).to_parquet(base / f"{name}.parquet")
        request = {
            "train": str(base / "train.parquet"),
            "test": str(base / "test.parquet"),
            "target": data.target,
            "problem_type": data.task,
            "metric": _AUTOGLUON_METRIC[spec.name],
            "time_limit": budget_s,
            "out": str(base / "predictions.parquet"),
        }
        (base / "request.json").write_text(json.dumps(request), encoding="utf-8")
        started = time.monotonic()
        subprocess.run(
            [
                str(python),
                str(Path(__file__).parent / "autogluon_runner.py"),
                str(base / "request.json"),
            ],
            check=True,
        )
        wall = time.monotonic() - started
        predictions = pd.read_parquet(base / "predictions.parquet")
        meta = json.loads((base / "predictions.parquet.json").read_text(encoding="utf-8"))
    y_test = test_rows[data.target].to_numpy()
    if data.task == "regression":
        value = spec.compute(y_test, predictions["prediction"].to_numpy(), None, classes=None)
    else:
        # AutoGluon names classes as text; map back to the labels' own values.
        labels = {str(v): v for v in pd.unique(data.frame[data.target])}
        classes = [labels[c] for c in meta["classes"]]
        proba = predictions[meta["classes"]].to_numpy()
        predicted = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
        value = spec.compute(y_test, predicted, proba, classes=classes)
    return Run(float(value), wall, meta["best"])


def compare(
    data: Dataset,
    budget_s: float,
    seeds: int,
    engine: str = "automl",
    autogluon: Path | None = None,
    flaml: bool = True,
) -> Outcome:
    metric = default_metric(data.task)  # type: ignore[arg-type]
    spec = resolve_metric(metric, data.task)  # type: ignore[arg-type]
    runs: dict[str, list[Run]] = {"ours": []}
    for seed in range(seeds):
        train_rows, test_rows = _split(data, seed)
        runs["ours"].append(run_ours(data, train_rows, test_rows, budget_s, seed, engine))
        if flaml:
            runs.setdefault("FLAML", []).append(
                run_flaml(data, train_rows, test_rows, budget_s, metric, seed)
            )
        if autogluon is not None:
            runs.setdefault("AutoGluon", []).append(
                run_autogluon(data, train_rows, test_rows, budget_s, metric, autogluon)
            )
    return Outcome(data.name, data.task, spec.name, runs)


def render(outcomes: list[Outcome], budget_s: float, seeds: int) -> str:
    systems = [s for s in ("ours", "FLAML", "AutoGluon") if outcomes and s in outcomes[0].runs]
    others = [s for s in systems if s != "ours"]
    header = (
        "| dataset | metric | "
        + " | ".join(systems)
        + " | "
        + " | ".join(f"rel vs {s}" for s in others)
        + " | "
        + " | ".join(f"{s} wall (s)" for s in systems)
        + " | ours best |"
    )
    n_columns = 3 + len(systems) * 2 + len(others)
    lines = [
        f"## Budget {budget_s:g} s (median of {seeds} seed(s) and 75/25 splits)",
        "",
        header,
        "|" + "|".join(["---"] * 2 + ["---:"] * (n_columns - 3) + ["---"]) + "|",
    ]
    for o in outcomes:
        spec = resolve_metric(o.metric, o.task)  # type: ignore[arg-type]
        lines.append(
            f"| {o.dataset} | {o.metric} | "
            + " | ".join(f"{o.median(s):.4f}" for s in systems)
            + " | "
            + " | ".join(f"{o.relative(spec, s):+.2%}" for s in others)
            + " | "
            + " | ".join(f"{o.wall(s):.1f}" for s in systems)
            + f" | {o.runs['ours'][0].best} |"
        )
    lines.append("")
    for system in others:
        relatives = [o.relative(resolve_metric(o.metric, o.task), system) for o in outcomes]  # type: ignore[arg-type]
        wins = sum(r > TIE for r in relatives)
        losses = sum(r < -TIE for r in relatives)
        ties = len(relatives) - wins - losses
        lines.append(
            f"Against {system} at {budget_s:g} s: median relative delta "
            f"{float(np.median(relatives)):+.2%} (positive = ours better); wins/ties/losses "
            f"{wins}/{ties}/{losses}; wins or ties on {(wins + ties) / len(relatives):.0%} "
            f"of datasets (tie = within {TIE:.1%})."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--budgets", default="10,60", help="comma-separated seconds (default 10,60)"
    )
    parser.add_argument("--datasets", help=f"comma-separated subset of: {', '.join(SUITE)}")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--seeds", type=int, default=3, help="splits and seeds per dataset")
    parser.add_argument(
        "--engine",
        choices=("automl", "train"),
        default="automl",
        help="ours: train + tune + ensemble (automl, the product's default) or breadth only (train)",
    )
    parser.add_argument(
        "--autogluon-python",
        type=Path,
        default=Path(__file__).parent / ".venv-autogluon" / "bin" / "python",
        help="python of AutoGluon's own venv (bash bench/setup_autogluon.sh); skipped if absent",
    )
    parser.add_argument("--no-flaml", action="store_true", help="leave FLAML out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("flaml").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    names = (
        list(QUICK) if args.quick else (args.datasets.split(",") if args.datasets else list(SUITE))
    )
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(SUITE)}")
    autogluon = args.autogluon_python if args.autogluon_python.exists() else None
    if autogluon is None:
        print(f"AutoGluon left out: {args.autogluon_python} does not exist", flush=True)
    budgets = [float(b) for b in args.budgets.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    for budget_s in budgets:
        outcomes = []
        for name in names:
            outcome = compare(
                SUITE[name](), budget_s, args.seeds, args.engine, autogluon, not args.no_flaml
            )
            outcomes.append(outcome)
            print(
                f"[{budget_s:g} s] {name}: "
                + ", ".join(
                    f"{system} {outcome.median(system):.4f} ({outcome.wall(system):.1f} s)"
                    for system in outcome.runs
                ),
                flush=True,
            )
        table = render(outcomes, budget_s, args.seeds)
        print("\n" + table + "\n", flush=True)
        (RESULTS / f"quality-{budget_s:g}.md").write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
