"""The words of each request: metric and model-family synonyms, and the phrases of each intent.

Patterns run on lowercase text whose column mentions are ``«i»`` placeholders
(:mod:`assistant.offline.columns`) and whose keyword typos are repaired
(:mod:`assistant.offline.typos`).
"""

from __future__ import annotations

import re

METRICS: tuple[tuple[str, str], ...] = (
    (r"balanced[ -]?acc(?:uracy)?", "balanced_accuracy"),
    (r"area under the (?:roc |precision[- ]recall )?curve", "roc_auc"),
    (r"pr[ -]?auc|auc[ -]?pr|precision[- ]recall auc|average precision", "average_precision"),
    (r"roc[ _-]?auc|auc[ _-]?roc|auroc|auc|roc", "roc_auc"),
    (r"f1[ -]?score|f[ -]?1|f[ -]?score|fscore", "f1"),
    (r"log[ -]?loss|cross[ -]?entropy", "log_loss"),
    (r"accuracy|acc", "accuracy"),
    (r"rmse|root mean squared? error", "root_mean_squared_error"),
    (r"mae|mean absolute error", "mean_absolute_error"),
    (r"mape|mean absolute percentage error", "mean_absolute_percentage_error"),
    (r"r[ -]?squared|r2|r²|r\^2|coefficient of determination", "r2"),
)
METRIC = re.compile(r"(?<![\w-])(" + "|".join(p for p, _ in METRICS) + r")(?![\w-])")

FAMILIES: tuple[tuple[str, str], ...] = (
    (r"random[ -]?forests?", "random_forest"),
    (r"extra[ -]?trees?|extremely randomi[sz]ed trees", "extra_trees"),
    (
        r"gradient[ -]boost(?:ing|ed)(?: trees| machines?)?|boosted trees|boosting|gbms?|gbdt",
        "boosting",
    ),
    (r"xgboost|xgb", "xgboost"),
    (r"light ?gbm|lgbm", "lightgbm"),
    (r"catboost", "catboost"),
    (r"logistic regressions?|logistic|logreg", "logistic_regression"),
    (r"linear (?:models?|ones|regressions?)|linear", "linear"),
    (r"ridge", "ridge"),
    (r"lasso", "lasso"),
    (r"svms?|svc|support[ -]vector(?: machines?)?", "svm"),
    (r"knn|k[ -]?nearest[ -]neighbou?rs?|nearest[ -]neighbou?rs?", "knn"),
    (r"neural (?:networks?|nets?)|mlps?|deep learning", "mlp"),
    (r"naive[ -]?bayes", "naive_bayes"),
    (r"lda|linear discriminant analysis", "lda"),
    (r"tree[ -]based(?: models?)?|trees?(?: models?)?", "tree"),
    (r"forests?", "forest"),
)
FAMILY = re.compile(r"(?<![\w-])(" + "|".join(p for p, _ in FAMILIES) + r")(?![\w-])")

ONLY = re.compile(
    r"\b(only|just|stick (?:to|with)|limit(?: it| the search| yourself)? to|restrict(?: it)? to|"
    r"nothing but|exclusively|solely)\b"
)
REMOVE = re.compile(
    r"\b(no|not|without|drop|skip|exclude|remove|leave out|don'?t (?:use|try|want|need|bother)|"
    r"no need for|never mind|"
    r"do not (?:use|try)|except|get rid of|ditch|forget(?: about)?)\b"
)
ADD = re.compile(r"\b(also|add|include|throw in|too|as well|plus|in addition|additionally)\b")
USE = re.compile(r"\b(use|try|train|fit|with|go with|switch to)\b")

METRIC_SETTING = re.compile(
    r"\b(use|using|optimi[sz]e|maximi[sz]e|minimi[sz]e|rank|ranked|ranking|score|scored|judge|"
    r"switch|go with|prefer|metric|instead|evaluate|evaluated|measure|care about|focus on|"
    r"set|change|by|with|please|pick|choose|target metric)\b"
)
BETTER_METRIC = re.compile(
    r"\b(?:is|would be|seems|sounds like) (?:a |the )?(?:much )?better "
    r"(?:measure|metric|choice|score|fit)(?: here| for this)?\b"
)
"""A metric called the better one: a metric change, not a wish to improve the model."""
IMPROVE_WORDS = re.compile(
    r"\b(improve|improving|improvement|better|boost|higher|increase|raise|get more)\b"
)

SPLIT_AFTER_AND = [
    "train",
    "retrain",
    "fit",
    "build",
    "make",
    "create",
    "use",
    "try",
    "only",
    "also",
    "add",
    "drop",
    "skip",
    "remove",
    "show",
    "plot",
    "draw",
    "chart",
    "explain",
    "download",
    "export",
    "save",
    "give",
    "get",
    "send",
    "tune",
    "predict",
    "score",
    "apply",
    "run",
    "start",
    "go",
    "what",
    "what's",
    "why",
    "how",
    "which",
    "tell",
    "set",
    "switch",
    "change",
    "then",
    "limit",
    "budget",
    "spend",
    "take",
    "allow",
    "profile",
    "describe",
    "summarize",
    "compare",
    "list",
    "let",
    "let's",
    "please",
    "can",
    "could",
    "include",
    "throw",
    "exclude",
    "keep",
    "stick",
    "leave",
    "optimise",
    "optimize",
]
CLAUSE_BREAK = re.compile(
    r"(?:[;!?\n]|\.(?!\d))+\s*|\s+[+&]\s+|\s*,?\s*\b(?:and\s+)?then\b\s*|,\s*(?:and\s+)?(?=(?:"
    + "|".join(map(re.escape, SPLIT_AFTER_AND))
    + r")\b)|\s+and\s+(?=(?:"
    + "|".join(map(re.escape, SPLIT_AFTER_AND))
    + r")\b)|,\s*and\s+|,\s*also\s+(?=\w)"
)

TRAIN = re.compile(
    r"\b(re-?train|train|fit|teach)\b(?!\s+(?:in|into)\b)|"
    r"\b(?:build|fit|do|run|train|make) it\b|"
    r"\b(?:build|make|create|develop|get|want|need|like|give me)\b(?:\s+\S+){0,3}?\s+"
    r"(?:model|classifier|regressor|predictor|something|automl)\b"
    r"(?!'s|\s+(?:file|card|files|artifacts?|script|pipeline|better)\b)|"
    r"\b(?:start|begin|kick off|launch|run)(?:ing)?\s+(?:a\s+|the\s+)?(?:training|automl)\b|"
    r"\b(?:redo|rerun|re-run|repeat|restart)\s+(?:the\s+)?(?:training|run|fit)\b|"
    r"\btraining run\b|\bautoml\b|\b(?:a|an)\s+(?:\S+\s+)?(?:classifier|regressor|predictor)\b|"
    r"\b(?:a|an)\s+(?:\S+\s+)?model\s+(?:that|which|to|for|of)\b|"
    r"^\s*(?:ok(?:ay)?,?\s+)?(?:go(?!\s+with)|go ahead|do it|run it|let'?s go|start|begin|go for it)\b"
)
MODEL_VERB = re.compile(r"\b(?:model|modell?ing)\s+(?:the\s+)?«(\d+)»")
COLUMN_MODEL = re.compile(r"«(\d+)»\s+(?:model|classifier|regressor|predictor)\b")

TARGET_BEFORE = re.compile(
    r"«(\d+)»\s+(?:as|is|=|should be|be|will be)\s+(?:the\s+|my\s+|our\s+)?(?:new\s+)?"
    r"(?:target|outcome|label|goal|thing to predict|column to predict|dependent variable|y)\b|"
    r"«(\d+)»\s+is what (?:i|we) (?:care about|want(?: to (?:predict|know|model))?|need)"
)
TARGET_AFTER = re.compile(
    r"\b(?:target|outcome|label|goal|what to predict|thing to predict|column to predict|"
    r"want(?:ed)? predicted|dependent variable|y variable)(?:\s+column)?\s*"
    r"(?:is|=|:|to|should be|be|will be|as|becomes)?\s*(?:the\s+|now\s+)?«(\d+)»"
)
PREDICT_COLUMN = re.compile(
    r"\b(?:predict|predicts|predicting|predicted|forecast|forecasts|forecasting|classify|"
    r"estimate|estimating|project)\s+(?:the\s+|a\s+|an\s+|whether\s+|if\s+|who\s+will\s+|"
    r"which\s+\S+\s+(?:will\s+)?|how\s+(?:much|many)\s+)?(?:(?:a|an|the)\s+)?(?:\S+\s+)?«(\d+)»"
)
PREDICT_UNKNOWN = re.compile(
    r"\b(?:predict|forecast|classify)\s+(?:the\s+)?(?!on\b|for\b|this\b|these\b|that\b|it\b|"
    r"them\b|with\b|using\b|from\b|new\b|whether\b|if\b|who\b|which\b|what\b|how\b|rows\b|"
    r"file\b|data\b|«)([a-z][a-z_-]{2,})"
)
LIKELY = re.compile(
    r"\b(?:who|which \S+)(?:'s| is| are| will be)?\s+(?:most\s+)?(?:likely|going|gonna|about|"
    r"at risk|in danger)\s+(?:to\s+|of\s+)?«(\d+)»|"
    r"\bwhich \S+ (?:will|would|might|are going to|get|got|are|were)(?: being)? «(\d+)»|"
    r"\b(?:likelihood|chance|probability|risk|odds)\s+(?:of|to|(?:that\s+)?\S+(?:\s+\S+)?\s+(?:will|would))\s+"
    r"(?:\S+\s+)?«(\d+)»|\bwho will «(\d+)»"
)
DRIVES = re.compile(
    r"\b(?:drive|drives|driving|driven|affect|affects|influence|influences|determine|determines|"
    r"cause|causes|explains?|behind|predicts|leads? to|factors? (?:of|for|in))\s+"
    r"(?:(?:whether|if)\s+(?:\S+\s+){0,3})?(?:the\s+)?«(\d+)»"
)
TRAINING_CONTEXT = re.compile(
    r"\b(train|retrain|fit|model|classifier|regressor|regression|classification|predict\w*|"
    r"forecast\w*|target|outcome|label|automl|training)\b"
)
FOR_COLUMN = re.compile(r"\b(?:for|on|of|about)\s+(?:the\s+)?«(\d+)»")
NOT_COLUMN = re.compile(r"\b(?:not|instead of|rather than|no longer)\s+(?:the\s+)?«(\d+)»")

TUNE = re.compile(
    r"\b(tune|tuning|fine[- ]?tune|hyper ?parameters?|hpo|keep (?:improving|optimi[sz]ing|"
    r"searching|tuning|going)|squeeze|search (?:a (?:little|bit) |some )?(?:longer|more)|"
    r"optimi[sz]e (?:the |its )?(?:hyper ?)?param\w*|optimi[sz]ation|more trials|"
    r"optimi[sz]e (?:the |its )?(?:best |top )?(?:model'?s? )?settings|"
    r"optimi[sz]e (?:the |its |my )?(?:best|top|winning|final) (?:model|one)\b)\b"
)
WHY = re.compile(
    r"\b(why|importance|important|matter|matters|mattering|effect|effects|impact|impacts|role|"
    r"influence|influences|influenced|influencing|affect|affects|affecting|affected|impacting|"
    r"deal with|used|use of|relying|rely|relies|contribut\w*|"
    r"weight|significant|useful|relevant)\b"
)
EXPLAIN = re.compile(
    r"\b(explain\w*|explanation|interpret\w*|insights?|what matters|matters most|most important|"
    r"driv\w* the (?:predictions?|model)|any good|why does (?:the|my|this|your) model|"
    r"how does (?:the|my|this|your) model (?:work|decide)|(?:which|what) (?:variables|features|columns|"
    r"factors|inputs) (?:matter|count|are important)|"
    r"important (?:features|columns|variables|factors)|feature importances?|importances?|"
    r"how (?:good|well|accurate|reliable|precise)|metrics|performance|perform|learn|learned|"
    r"learnt|key drivers|drivers|tell me about the model|about the model|how did (?:it|the model)"
    r" do|results?|scores? of the (?:best )?model|evaluation|confusion matrix|roc curve|shap|"
    r"break(?:ing)? (?:it |the model )?down|walk me through)\b"
)
BOARD = re.compile(
    r"\b(leader ?board|score ?board|rankings?|standings|how (?:did|do|does) (?:the )?others|runner[- ]?ups?|models compare|"
    r"second best|second place|next best|"
    r"which (?:algorithm|algo|method|approach)s? (?:won|was best|is best|did best|worked best)|"
    r"compare (?:the |all )?(?:the )?"
    r"(?:models|candidates)|model comparison|all (?:the )?model (?:results|scores)|"
    r"which (?:model|one|candidate) (?:is|was) the best(?: one)?|other (?:candidates|models|ones)|all (?:the )?"
    r"(?:models|candidates|scores|results)|every (?:model|candidate)|each (?:model|candidate)|"
    r"which (?:model|one|candidate) (?:won|wins|was best|is best|did best|performed best|came "
    r"first)|who won(?=\s*$)|models? (?:you|did you|were) (?:tried|try|trained|tested)|compare to the "
    r"others?|how did \S+ compare|scores? (?:of|for) (?:all|every|each)|all candidates|the "
    r"winner and)\b"
)
DOWNLOAD = re.compile(
    r"\b(download\w*|export\w*|save|joblib|pickle|pkl|artifacts?|model (?:file|card)|"
    r"(?:training )?script|pipeline|package it|use it elsewhere|the files|files|get the model|"
    r"grab|send me)\b"
)
HAND_OVER = re.compile(
    r"\b(?:give|send|get|hand) (?:me|us) (?:the |my |our |that )?(?:trained |final |best )?model"
    r"\b(?! for\b| of\b| that\b| which\b| to predict\b)"
)
"""Asking for the model itself (a download), not for a model to be built."""
NOTEBOOK = re.compile(r"\b(notebook|jupyter|ipynb|colab)\b")
DEPLOY = re.compile(
    r"\b(deploy\w*|serve it|serve the model|endpoint|rest api|an api|behind an api|"
    r"in production|host (?:it|the model))\b"
)
PLOT = re.compile(
    r"\b(plot|plots|plotting|chart|graph|visuali[sz]e|visuali[sz]ation|draw|histogram|scatter|"
    r"bar ?chart|boxplot|box plot|distribution|distributed|pie|correlat\w*|relationship between|"
    r"relation between|related to)\b"
)
PLOT_PAIR = re.compile(r"«(\d+)»\s*(?:vs\.?|versus|against|by|and|over|with)\s+(?:the\s+)?«(\d+)»")
PREDICT_FILE = re.compile(
    r"\b(predict\w*|score|scoring|apply|run|use|say|will|these|this|those|file|rows|batch|csv|"
    r"new)\b"
)
PREDICT_FILE_WORDS = re.compile(
    r"\bpredict(?:ions?)?\s+(?:on|for)\s+(?:this|the|these|that|new|attached|my)\b|"
    r"\b(?:score|apply)\s+(?:it|the model|this|these|the)\b.*\b(?:file|data|rows|batch)\b|"
    r"\brun (?:the|my) model on\b|\bmake predictions\b|"
    r"\b(?:run|use|apply) (?:it|the model|this model|the (?:trained|final|best) model) "
    r"(?:on|to|over|against|for) (?:the |this |these |those |my )?"
    r"(?:new|attached|other|file|data|rows|batch|csv|records|ones)\b"
)
IMPROVE = re.compile(
    r"\b(what can (?:we|i) do|score is (?:low|bad|poor)|how (?:to|do i|can i) fix|improve|improvement|improvements|better|boost|higher|increase|what next|try next|"
    r"next steps?|tips?|suggest\w*|advice|what else|recommend\w*)\b"
)
PROFILE = re.compile(
    r"\b(profile|profiling|overview|describe|summar(?:y|i[sz]e)|look at|take a look|what'?s in|"
    r"what is in|columns|explore|eda|data quality|issues|quality|show (?:me )?(?:the )?data|"
    r"about (?:this|the) (?:data|dataset|file|table)|inspect|first look|check the data|"
    r"data look|file look|(?:which|what) columns|missing (?:values|data)|nulls|duplicates)\b"
)
FILLER = re.compile(
    r"\b(please|pls|thanks|thank you|ok|okay|now|instead|the|a|an|as|metric|score|let'?s|"
    r"and|then|go|for|it|to|use|be|should|i|want|would|like|really|just)\b"
)
