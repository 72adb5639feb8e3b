"""The tools the model (or the offline assistant) can call, built from typed functions."""

from __future__ import annotations

from assistant.toolbox._tables import load_dataset
from assistant.toolbox.ask_tools import ask_user
from assistant.toolbox.code_tools import run_code
from assistant.toolbox.data_tools import plot_columns, profile_dataset
from assistant.toolbox.feature_tools import engineer_features
from assistant.toolbox.model_tools import (
    explain_model,
    list_artifacts,
    predict_file,
    show_leaderboard,
    suggest_improvements,
)
from assistant.toolbox.notebook_tools import export_notebook
from assistant.toolbox.plan_tools import set_plan
from assistant.toolbox.query_tools import query_data
from assistant.toolbox.serving_tools import deploy_model
from assistant.toolbox.sql_tools import load_sql_table
from assistant.toolbox.train_tools import train_models, tune_model
from assistant.toolkit import Tool, tool

_FUNCTIONS = (
    load_sql_table,
    profile_dataset,
    set_plan,
    train_models,
    tune_model,
    engineer_features,
    show_leaderboard,
    explain_model,
    suggest_improvements,
    predict_file,
    list_artifacts,
    deploy_model,
    export_notebook,
    plot_columns,
    query_data,
    run_code,
    ask_user,
)


__all__ = ["all_tools", "load_dataset"]


def all_tools() -> list[Tool]:
    """Every tool, in the order the model sees them."""
    return [tool(function) for function in _FUNCTIONS]
