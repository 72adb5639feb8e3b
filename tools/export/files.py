"""The names of the files a run folder holds (besides ``model.joblib`` and ``schema.json``, :mod:`tools.predict`)."""

RETRAINED_FILE = "retrained_model.joblib"
"""What the exported script saves its refit pipeline as; the run's ``model.joblib`` stays."""

REPORT_FILE = "report.json"

CARD_FILE = "model_card.md"

SCRIPT_FILE = "train.py"

FIGURES_DIR = "figures"
