"""Optuna search spaces, one per tunable model family."""

from __future__ import annotations

from typing import Any

from tools.models.kinds import Params


def _space_logistic(trial: Any) -> Params:
    return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)}


def _space_ridge(trial: Any) -> Params:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


def _space_lasso(trial: Any) -> Params:
    return {"alpha": trial.suggest_float("alpha", 1e-5, 1.0, log=True)}


def _space_knn(trial: Any) -> Params:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 3, 50, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
    }


def _space_forest(trial: Any) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 100, 500, log=True),
        "max_features": trial.suggest_float("max_features", 0.1, 1.0),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True),
    }


def _space_xgboost(trial: Any) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 10),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10, log=True),
    }


def _space_lightgbm(trial: Any) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10, log=True),
    }


def _space_catboost(trial: Any) -> Params:
    return {
        "iterations": trial.suggest_int("iterations", 100, 1000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "depth": trial.suggest_int("depth", 3, 8),
        "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 20, log=True),
    }


def _space_mlp(trial: Any) -> Params:
    width = trial.suggest_int("width", 16, 256, log=True)
    return {
        "hidden_layer_sizes": (width,) * trial.suggest_int("layers", 1, 2),
        "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
        "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-2, log=True),
    }


def _space_svm(trial: Any) -> Params:
    return {
        "C": trial.suggest_float("C", 1e-2, 1e2, log=True),
        "gamma": trial.suggest_float("gamma", 1e-4, 1.0, log=True),
    }
