"""Spelling repair for the words the rules listen for: "trian" -> "train", "leaderbord" -> "leaderboard".

Only words close to one of the rules' own words are changed, and never a
word that names a column, so a typo can make a request understood but an
ordinary word is left alone.
"""

from __future__ import annotations

import difflib
import re

_KEYWORDS = tuple(
    [
        "train",
        "retrain",
        "model",
        "models",
        "modeling",
        "predict",
        "prediction",
        "predictions",
        "predicting",
        "target",
        "classifier",
        "classify",
        "regressor",
        "regression",
        "classification",
        "forecast",
        "leaderboard",
        "ranking",
        "download",
        "export",
        "artifacts",
        "explain",
        "explanation",
        "tune",
        "tuning",
        "hyperparameters",
        "hyperparameter",
        "importance",
        "important",
        "histogram",
        "distribution",
        "distributed",
        "visualize",
        "visualise",
        "scatter",
        "accuracy",
        "balanced",
        "profile",
        "overview",
        "describe",
        "summarize",
        "summarise",
        "features",
        "feature",
        "metric",
        "budget",
        "minutes",
        "seconds",
        "pipeline",
        "suggestions",
        "improve",
        "average",
        "median",
        "maximum",
        "minimum",
        "percentage",
        "results",
        "candidates",
        "compare",
        "matter",
        "boosting",
        "forest",
        "forests",
        "xgboost",
        "lightgbm",
        "catboost",
        "neural",
        "logistic",
        "precision",
        "recall",
        "outcome",
        "column",
        "columns",
        "dataset",
        "training",
    ]
)
_COMMON = {
    "tuen": "tune",
    "tunning": "tuning",
    "teh": "the",
    "modle": "model",
    "mdoel": "model",
    "moedl": "model",
    "modl": "model",
    "trian": "train",
    "tran": "train",
    "traing": "train",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "avg": "average",
    "hyperparam": "hyperparameters",
    "hyperparams": "hyperparameters",
    "params": "parameters",
    "viz": "visualize",
}
_KEEP = frozenset(
    [
        "second",
        "mode",
        "modes",
        "modal",
        "tone",
        "toned",
        "tuned",
        "tunes",
        "trained",
        "trains",
        "trainer",
        "traits",
        "metrics",
        "market",
        "marked",
        "plots",
        "explore",
        "explored",
        "expert",
        "expect",
        "impotent",
        "predator",
        "feathers",
        "features",
    ]
)
_WORD = re.compile(r"[a-z]+")
_MIN_CHARS = 5
_CUTOFF = 0.8


def repair(text: str, *, keep: frozenset[str] = frozenset()) -> str:
    """``text`` (lowercase) with misspelt keywords corrected; words in ``keep`` are left alone."""

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if word in _COMMON:
            return _COMMON[word]
        if len(word) < _MIN_CHARS or word in _KEEP or word in keep or word in _KEYWORD_SET:
            return word
        if any(word.startswith(k) and len(word) - len(k) <= 3 for k in _KEYWORDS):
            return word  # an inflected keyword ("matters", "models"), not a typo
        close = difflib.get_close_matches(word, _KEYWORDS, n=1, cutoff=_CUTOFF)
        return close[0] if close else word

    return _WORD.sub(fix, text)


_KEYWORD_SET = frozenset(_KEYWORDS)
