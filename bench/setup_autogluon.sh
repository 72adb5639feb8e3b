#!/usr/bin/env bash
# AutoGluon for bench/quality.py, in its own virtualenv (its pins clash with ours).
# Usage: bash bench/setup_autogluon.sh   (creates bench/.venv-autogluon)
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-autogluon/bin/python ] || python3 -m venv .venv-autogluon
.venv-autogluon/bin/pip install -q --upgrade pip
.venv-autogluon/bin/pip install -q "autogluon.tabular[lightgbm,catboost,xgboost]==1.*" pyarrow
.venv-autogluon/bin/python -c "import autogluon.tabular as t; print('AutoGluon', t.__version__)"
