"""What a cross-validated score means, in one sentence a newcomer can read."""

from __future__ import annotations

from assistant.toolbox._format import quoted, round_sig


def score_meaning(metric: str, score: float, *, target: str, positive_class: str | None) -> str:
    """One sentence on what ``score`` of ``metric`` (a canonical metric name) says.

    Args:
        metric: The plan's metric, e.g. ``"roc_auc"`` or ``"root_mean_squared_error"``.
        score: Its cross-validated value (on rows each model was not trained on).
        target: The column predicted, as the file writes it.
        positive_class: The class a binary metric is about, as the file writes it.
    """
    pos = quoted(positive_class) if positive_class is not None else "the positive class"
    share = f"{score:.0%}"
    what = quoted(target)
    sentences = {
        "roc_auc": f"it ranks a {pos} row above another row {share} of the time "
        "(0.5 is a coin toss, 1 is perfect)",
        "roc_auc_ovr": f"averaged over the classes, it ranks a row of a class above a row of "
        f"another class {share} of the time (0.5 is a coin toss, 1 is perfect)",
        "accuracy": f"it predicts the right {what} for {share} of rows it was not trained on",
        "balanced_accuracy": f"averaged over the classes, it gets {share} of each class right "
        "(guessing gets one over the number of classes)",
        "f1": f"it balances finding the {pos} rows against being right when it says {pos} "
        "(1 is perfect, 0 never right)",
        "f1_macro": "the F1 of each class (finding its rows and being right about them), "
        "averaged: 1 is perfect",
        "log_loss": "the average penalty of its predicted probabilities: 0 is perfect, and "
        "lower is better",
        "average_precision": f"how precise it stays while finding more and more {pos} rows "
        f"(1 is perfect; guessing gets the share of {pos} rows)",
        "root_mean_squared_error": f"a typical prediction of {what} is off by about "
        f"{round_sig(score)} (big misses count more)",
        "mean_absolute_error": f"predictions of {what} are off by {round_sig(score)} on average",
        "r2": f"it explains {share} of the variation in {what} (0 is no better than always "
        "predicting the mean, 1 is perfect)",
        "mean_absolute_percentage_error": f"predictions of {what} are off by {share} of the "
        "true value on average",
    }
    sentence = sentences.get(metric)
    return f"What that means: {sentence}." if sentence else ""
