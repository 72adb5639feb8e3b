"""The bound metrics give the same values as the metric definitions they replace."""

from __future__ import annotations

import numpy as np
import pytest

from tools.metrics import metric_names, resolve_metric
from tools.search.fast_scores import bind_metric


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_bound_metrics_equal_the_definitions(task: str) -> None:
    rng = np.random.default_rng(0)
    n = 500
    if task == "regression":
        classes = None
        y = rng.normal(loc=10, size=n)
        predictions = y + rng.normal(size=n)
    else:
        classes = np.array(["no", "yes"] if task == "binary" else ["a", "b", "c"], dtype=object)
        y = rng.choice(classes, n)
        raw = rng.uniform(size=(n, len(classes))) + 0.5 * (y[:, None] == classes[None, :])
        predictions = raw / raw.sum(axis=1, keepdims=True)
    for name in metric_names(task):
        spec = resolve_metric(name, task)
        if classes is None:
            expected = spec.compute(y, predictions, None, classes=None)
        else:
            labels = classes[np.argmax(predictions, axis=1)]
            expected = spec.compute(y, labels, predictions, classes=classes)
        assert bind_metric(spec, y, classes)(predictions) == pytest.approx(expected, rel=1e-9), name
