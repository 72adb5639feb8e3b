"""The search: one cross-validation core and everything built on it.

Modules: ``cv`` (features, searched rows, single-row classes, folds: the one place
training, tuning, the target-transform choice and feature selection take their rows
from), ``candidates`` (one family cross-validated under the deadline), ``native`` (its
native-categories variant), ``train`` (the breadth search over the plan's families),
``refit`` (the one refit routine: the winner's final model, or its bagged fold models),
``winner`` (ranking, class weighting, the winner's metrics and F1 threshold),
``results`` (``TrainResult`` and friends), ``studies`` / ``trials`` / ``tune`` (Optuna
tuning), ``ensemble`` (greedy weighted ensembles), ``target_transform`` (the
target-transform choice), ``feature_selection``, ``honest`` (expected scores on new
data by nested selection), ``fast_scores``, ``keys`` (leaderboard keys), ``finish``
(the model an automl run ships), ``automl`` (breadth, tuning, ensemble, refit within
one budget).
"""

from __future__ import annotations

from tools._lazy import lazy_exports

_WHERE = {
    "TrainingError": "tools.search.results",
    "CandidateResult": "tools.search.results",
    "TrainProgress": "tools.search.results",
    "TrainResult": "tools.search.results",
    "sample_rows": "tools.search.cv",
    "bagged_folds": "tools.search.refit",
    "rank_candidates": "tools.search.winner",
    "winner_metrics": "tools.search.winner",
    "open_storage": "tools.search.studies",
    "tuning_storage": "tools.search.studies",
    "trial_to_params": "tools.search.studies",
    "tunable_families": "tools.search.studies",
    "TuningError": "tools.search.tune",
    "TrialReport": "tools.search.tune",
    "TuneResult": "tools.search.tune",
    "KEEP_CANDIDATES": "tools.search.tune",
    "TrialCandidate": "tools.search.trials",
    "EnsembleModel": "tools.search.ensemble",
    "EnsembleSelection": "tools.search.ensemble",
    "select_ensemble": "tools.search.ensemble",
    "fit_ensemble": "tools.search.ensemble",
    "fit_automl": "tools.search.automl",
    "candidate_label": "tools.search.keys",
    "base_family": "tools.search.keys",
    "finish_reserve_s": "tools.search.automl",
    "TUNED_SUFFIX": "tools.search.keys",
    "ENSEMBLE_KEY": "tools.search.keys",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports(__name__, _WHERE)
