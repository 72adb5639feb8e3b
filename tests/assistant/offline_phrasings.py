"""How people ask for things, for the offline assistant's phrasing suite (issue 18, item 5).

Written by imagining users typing into the chat, not from the parser's
keywords: typos, paraphrases, polite and terse forms, several requests in one
message. Each case names the intent it tests, the file and conversation it is
said in, and the tool calls it should become, in order (each call's expected
arguments are a subset of the real ones). ``ASK`` means the right answer is a
question back to the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.offline.facts import ColumnFacts, FileFacts, Situation

CHURN = FileFacts(
    "d1",
    (
        ColumnFacts("customer_id", False, (), is_unique=True),
        ColumnFacts("signup_date", False),
        ColumnFacts("tenure_months", True),
        ColumnFacts("contract", False, ("month-to-month", "one year", "two year")),
        ColumnFacts("payment_method", False, ("card", "bank transfer", "electronic check")),
        ColumnFacts("monthly_charges", True),
        ColumnFacts("support_calls", True, ("0", "1", "2", "3", "4", "5", "6")),
        ColumnFacts("internet", False, ("fiber", "dsl", "none")),
        ColumnFacts("churn", False, ("no", "yes")),
    ),
)
SALES = FileFacts(
    "d1",
    (
        ColumnFacts("order_id", True, (), is_unique=True),
        ColumnFacts("order_date", False),
        ColumnFacts("region", False, ("north", "south", "east", "west")),
        ColumnFacts("city", False, ("Paris", "Lyon", "Berlin", "Madrid", "Rome", "Lisbon")),
        ColumnFacts("product", False, ("laptop", "phone", "tablet", "monitor")),
        ColumnFacts("units", True),
        ColumnFacts("price", True),
        ColumnFacts("revenue", True),
        ColumnFacts("returned", False, ("no", "yes")),
    ),
)
FRESH = Situation()
TRAINED = Situation(has_model=True, target="churn")
SALES_TRAINED = Situation(has_model=True, target="revenue")
NEW_FILE = Situation(has_model=True, target="churn", new_file="d2")
ATTACHED_NEW = '\n\n[Attached: "new_customers.csv" (dataset d2)]'
ASK: tuple[tuple[str, dict[str, Any]], ...] = (("ask_user", {}),)

Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One phrasing and what it should become."""

    intent: str
    text: str
    calls: tuple[Call, ...]
    facts: FileFacts = CHURN
    situation: Situation = field(default=TRAINED)


def _train(**arguments: Any) -> tuple[Call, ...]:
    return (("train_models", arguments),)


def _plan(**arguments: Any) -> tuple[Call, ...]:
    return (("set_plan", arguments),)


def _tune(**arguments: Any) -> tuple[Call, ...]:
    return (("tune_model", arguments),)


def _query(**arguments: Any) -> tuple[Call, ...]:
    return (("query_data", arguments),)


def _where(column: str, op: str, value: Any) -> str:
    return f"{column} {op} {value}"


EXPLAIN: tuple[Call, ...] = (("explain_model", {}),)
BOARD: tuple[Call, ...] = (("show_leaderboard", {}),)
FILES: tuple[Call, ...] = (("list_artifacts", {}),)
PROFILE: tuple[Call, ...] = (("profile_dataset", {}),)
PREDICT: tuple[Call, ...] = (("predict_file", {"dataset_id": "d2"}),)
IMPROVE: tuple[Call, ...] = (("suggest_improvements", {}),)


def _why(feature: str) -> tuple[Call, ...]:
    return (("explain_model", {"feature": feature}),)


def _plot(x: str, y: str | None = None) -> tuple[Call, ...]:
    return (("plot_columns", {"x": x, **({"y": y} if y else {})}),)


def _features(*features: str) -> tuple[Call, ...]:
    return (("engineer_features", {"features": list(features)}),)


CASES: tuple[Case, ...] = (
    # train: a target in the user's own words, or a kind of model rather than a verb
    Case(
        "train",
        "train a model on this file to predict churn",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case(
        "train", "can you build me a classifier for churn?", _train(target="churn"), situation=FRESH
    ),
    Case(
        "train",
        "I want to know which factors drive churn, fit a model",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case("train", "use churn as the target and train", _train(target="churn"), situation=FRESH),
    Case("train", "trian a modle to predcit churn", _train(target="churn"), situation=FRESH),
    Case("train", "predict whether a customer churns", _train(target="churn"), situation=FRESH),
    Case(
        "train",
        "fit something that forecasts monthly charges",
        _train(target="monthly_charges"),
        situation=FRESH,
    ),
    Case(
        "train",
        "please train a model for the churn column, thanks!",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case("train", "model churn", _train(target="churn"), situation=FRESH),
    Case(
        "train",
        "build a regression model for monthly_charges",
        _train(target="monthly_charges"),
        situation=FRESH,
    ),
    Case("train", "what drives churn?", _train(target="churn"), situation=FRESH),
    Case("train", "Go ahead and train", _train()),
    Case("train", "retrain it please", _train()),
    Case(
        "train",
        "let's see if we can predict Churn from the other columns",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case("train", "start training on churn", _train(target="churn"), situation=FRESH),
    Case(
        "train", "could you fit a model predicting CHURN", _train(target="churn"), situation=FRESH
    ),
    Case("train", "make me a churn model", _train(target="churn"), situation=FRESH),
    Case(
        "train", "run automl on this data, label is churn", _train(target="churn"), situation=FRESH
    ),
    Case("train", "train it again", _train()),
    Case(
        "train",
        "I'd like a model that tells me who will churn",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case(
        "train",
        "kick off a training run for support calls",
        _train(target="support_calls"),
        situation=FRESH,
    ),
    Case("train", "train", _train()),
    Case("train", "predict revenue", _train(target="revenue"), SALES, FRESH),
    Case("train", "can you model the price?", _train(target="price"), SALES, FRESH),
    Case("train", "build a classifer for returned", _train(target="returned"), SALES, FRESH),
    Case("train", "Explain what drives revenue", _train(target="revenue"), SALES, FRESH),
    # change the target
    Case("target", "change the target to contract", _train(target="contract")),
    Case("target", "actually, predict tenure instead", _train(target="tenure_months")),
    Case("target", "switch the target to internet", _train(target="internet")),
    Case("target", "the outcome column is support_calls", _train(target="support_calls")),
    Case("target", "let's use payment method as the target", _train(target="payment_method")),
    Case("target", "target = monthly_charges", _train(target="monthly_charges")),
    Case("target", "I meant contract, not churn, as what to predict", _train(target="contract")),
    Case("target", "make the label internet instead", _train(target="internet")),
    Case("target", "could the target be monthly charges please", _train(target="monthly_charges")),
    Case("target", "new target: tenure", _train(target="tenure_months")),
    Case("target", "the thing I want predicted is the contract type", _train(target="contract")),
    Case("target", "predict the montly charges column now", _train(target="monthly_charges")),
    Case("target", "use supprt calls as the outcome", _train(target="support_calls")),
    Case("target", "Target: UNITS", _train(target="units"), SALES, SALES_TRAINED),
    # metric
    Case("metric", "use F1", _plan(metric="f1")),
    Case("metric", "optimise for AUC please", _plan(metric="roc_auc")),
    Case("metric", "rank the models by accuracy", _plan(metric="accuracy")),
    Case(
        "metric",
        "I care about the balance of precision and recall, use f1 score",
        _plan(metric="f1"),
    ),
    Case("metric", "switch the metric to log loss", _plan(metric="log_loss")),
    Case(
        "metric",
        "can we judge them on balanced accuracy instead?",
        _plan(metric="balanced_accuracy"),
    ),
    Case("metric", "metric: roc auc", _plan(metric="roc_auc")),
    Case("metric", "go with pr auc", _plan(metric="average_precision")),
    Case("metric", "Use ROC-AUC as the scoring metric", _plan(metric="roc_auc")),
    Case("metric", "f1 please", _plan(metric="f1")),
    Case("metric", "maximize the area under the curve", _plan(metric="roc_auc")),
    Case("metric", "score them by acuracy", _plan(metric="accuracy")),
    Case("metric", "let's use rmse", _plan(metric="root_mean_squared_error"), SALES, SALES_TRAINED),
    Case(
        "metric",
        "evaluate with mean absolute error",
        _plan(metric="mean_absolute_error"),
        SALES,
        SALES_TRAINED,
    ),
    Case("metric", "use r squared", _plan(metric="r2"), SALES, SALES_TRAINED),
    # models
    Case("models", "only tree models", _plan(models=["tree"])),
    Case("models", "just try random forests", _plan(models=["random_forest"])),
    Case("models", "stick to linear models", _plan(models=["linear"])),
    Case("models", "also try an SVM", _plan(add_models=["svm"])),
    Case("models", "throw in xgboost too", _plan(add_models=["xgboost"])),
    Case("models", "no neural networks please", _plan(remove_models=["mlp"])),
    Case("models", "skip knn", _plan(remove_models=["knn"])),
    Case("models", "only use lightgbm and catboost", _plan(models=["lightgbm", "catboost"])),
    Case("models", "limit it to gradient boosting", _plan(models=["boosting"])),
    Case("models", "drop the linear ones", _plan(remove_models=["linear"])),
    Case(
        "models",
        "can you include logistic regression as well",
        _plan(add_models=["logistic_regression"]),
    ),
    Case("models", "use only trees", _plan(models=["tree"])),
    Case("models", "I only want boosted trees", _plan(models=["boosting"])),
    Case("models", "leave out naive bayes", _plan(remove_models=["naive_bayes"])),
    Case("models", "try extra trees as well", _plan(add_models=["extra_trees"])),
    # budget
    Case("budget", "use a 2 minute budget", _plan(budget_s=120)),
    Case("budget", "give it 90 seconds", _plan(budget_s=90)),
    Case("budget", "you have an hour", _plan(budget_s=3600)),
    Case("budget", "limit training to 5 min", _plan(budget_s=300)),
    Case("budget", "spend at most half an hour", _plan(budget_s=1800)),
    Case("budget", "set the time budget to 30s", _plan(budget_s=30)),
    Case("budget", "take 10 minutes for training", _plan(budget_s=600)),
    Case("budget", "budget: 3 mins", _plan(budget_s=180)),
    Case("budget", "don't spend more than a minute", _plan(budget_s=60)),
    Case("budget", "allow 1.5 hours", _plan(budget_s=5400)),
    Case("budget", "make the budget 45 seconds", _plan(budget_s=45)),
    Case("budget", "time limit of two minutes", _plan(budget_s=120)),
    Case("budget", "train for 5 minutes", _train(budget_s=300)),
    # tune
    Case("tune", "tune it for 2 minutes", _tune(budget_s=120)),
    Case("tune", "tune the best model", _tune()),
    Case("tune", "can you fine-tune the hyperparameters for another 5 min?", _tune(budget_s=300)),
    Case("tune", "spend 90 seconds tuning", _tune(budget_s=90)),
    Case("tune", "keep improving the winner for an hour", _tune(budget_s=3600)),
    Case("tune", "optimize the hyperparameters", _tune()),
    Case("tune", "tuen it", _tune()),
    Case("tune", "run a hyperparameter search for 10 minutes", _tune(budget_s=600)),
    Case("tune", "squeeze a bit more out of the best model, 3 min", _tune(budget_s=180)),
    Case("tune", "more tuning please", _tune()),
    Case("tune", "tune for 30s", _tune(budget_s=30)),
    Case("tune", "do some hyperparam optimisation", _tune()),
    Case("tune", "search a little longer on the top model", _tune()),
    # explain the model
    Case("explain", "explain the model", EXPLAIN),
    Case("explain", "what matters most to the model?", EXPLAIN),
    Case("explain", "which features are the most important?", EXPLAIN),
    Case("explain", "how good is it?", EXPLAIN),
    Case("explain", "how well did the model do", EXPLAIN),
    Case("explain", "show me feature importance", EXPLAIN),
    Case("explain", "what did it learn?", EXPLAIN),
    Case("explain", "give me the metrics", EXPLAIN),
    Case("explain", "how accurate is the model", EXPLAIN),
    Case("explain", "explian the results", EXPLAIN),
    Case("explain", "what are the key drivers?", EXPLAIN),
    Case("explain", "summarize the model's performance", EXPLAIN),
    Case("explain", "what is the AUC of the best model?", EXPLAIN),
    Case("explain", "tell me about the model", EXPLAIN),
    # why a feature matters
    Case("why", "why is tenure important?", _why("tenure_months")),
    Case("why", "why does contract matter so much", _why("contract")),
    Case("why", "how does monthly charges affect churn?", _why("monthly_charges")),
    Case("why", "what's the effect of support calls", _why("support_calls")),
    Case("why", "explain the role of internet", _why("internet")),
    Case("why", "why is the model relying on payment method?", _why("payment_method")),
    Case("why", "importance of tenure_months", _why("tenure_months")),
    Case("why", "tell me more about how contract influences the prediction", _why("contract")),
    Case("why", "why does tenur matter", _why("tenure_months")),
    Case("why", "does support_calls really matter?", _why("support_calls")),
    Case("why", "how is monthly_charges used by the model", _why("monthly_charges")),
    Case("why", "what impact does internet have?", _why("internet")),
    # leaderboard
    Case("leaderboard", "show the leaderboard", BOARD),
    Case("leaderboard", "how did the other candidates do?", BOARD),
    Case("leaderboard", "compare the models", BOARD),
    Case("leaderboard", "which model won?", BOARD),
    Case("leaderboard", "show me all the scores", BOARD),
    Case("leaderboard", "leaderbord pls", BOARD),
    Case("leaderboard", "ranking of the models?", BOARD),
    Case("leaderboard", "what were the runner-ups", BOARD),
    Case("leaderboard", "list every model you tried", BOARD),
    Case("leaderboard", "how did xgboost compare to the others", BOARD),
    Case("leaderboard", "show results for all candidates", BOARD),
    Case("leaderboard", "what other models did you try?", BOARD),
    # download
    Case("download", "download the model", FILES),
    Case("download", "can I get the model file?", FILES),
    Case("download", "export the pipeline", FILES),
    Case("download", "give me the files", FILES),
    Case("download", "where can I download the trained model", FILES),
    Case("download", "send me the joblib", FILES),
    Case("download", "save the model please", FILES),
    Case("download", "I need the training script", FILES),
    Case("download", "dowload model", FILES),
    Case("download", "let me grab the model card", FILES),
    Case("download", "package it up so I can use it elsewhere", FILES),
    Case("download", "get me the artifacts", FILES),
    # plot
    Case("plot", "plot tenure vs monthly charges", _plot("monthly_charges", "tenure_months")),
    Case("plot", "show me a histogram of monthly_charges", _plot("monthly_charges")),
    Case("plot", "distribution of churn", _plot("churn")),
    Case("plot", "chart contract against churn", _plot("churn", "contract")),
    Case("plot", "can you visualize support calls", _plot("support_calls")),
    Case(
        "plot", "scatter monthly charges against tenure", _plot("tenure_months", "monthly_charges")
    ),
    Case("plot", "draw the distribution of tenure", _plot("tenure_months")),
    Case("plot", "graph internet by churn", _plot("churn", "internet")),
    Case("plot", "plot the contract column", _plot("contract")),
    Case("plot", "make a bar chart of payment method", _plot("payment_method")),
    Case(
        "plot",
        "visualise monthly_charges versus support_calls",
        _plot("support_calls", "monthly_charges"),
    ),
    Case("plot", "how is tenure distributed?", _plot("tenure_months")),
    # profile
    Case("profile", "show the data", PROFILE, situation=FRESH),
    Case("profile", "describe this dataset", PROFILE, situation=FRESH),
    Case("profile", "what's in this file?", PROFILE, situation=FRESH),
    Case("profile", "give me an overview of the columns", PROFILE, situation=FRESH),
    Case("profile", "profile it", PROFILE, situation=FRESH),
    Case("profile", "take a look at the data first", PROFILE, situation=FRESH),
    Case("profile", "summarize the table", PROFILE, situation=FRESH),
    Case("profile", "any data quality issues?", PROFILE, situation=FRESH),
    Case("profile", "explore the data", PROFILE, situation=FRESH),
    Case("profile", "what columns are there?", PROFILE, situation=FRESH),
    Case("profile", "tell me about this dataset", PROFILE, situation=FRESH),
    Case("profile", "eda please", PROFILE, situation=FRESH),
    # predict on a new file
    Case("predict", "predict on this file" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case("predict", "score the attached rows" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case(
        "predict",
        "run the model on these new customers" + ATTACHED_NEW,
        PREDICT,
        situation=NEW_FILE,
    ),
    Case("predict", "apply it to this new data" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case(
        "predict", "what would the model say for these?" + ATTACHED_NEW, PREDICT, situation=NEW_FILE
    ),
    Case(
        "predict", "make predictions for the new file" + ATTACHED_NEW, PREDICT, situation=NEW_FILE
    ),
    Case(
        "predict", "use the model on next month's data" + ATTACHED_NEW, PREDICT, situation=NEW_FILE
    ),
    Case("predict", "can you score this batch" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case("predict", "predictions for this csv please" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case("predict", "predcit these rows" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case(
        "predict",
        "which of these customers will churn?" + ATTACHED_NEW,
        PREDICT,
        situation=NEW_FILE,
    ),
    Case("predict", "score it" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    # add a feature
    Case(
        "feature",
        "add a feature charge_per_call = monthly_charges / support_calls",
        _features("charge_per_call = monthly_charges / support_calls"),
    ),
    Case(
        "feature",
        "create a column ratio = monthly_charges / tenure_months",
        _features("ratio = monthly_charges / tenure_months"),
    ),
    Case(
        "feature",
        "try the feature monthly_charges * tenure_months",
        _features("monthly_charges_tenure_months = monthly_charges * tenure_months"),
    ),
    Case(
        "feature",
        "add feature: long_customer = tenure_months > 24",
        _features("long_customer = tenure_months > 24"),
    ),
    Case(
        "feature",
        "engineer a new feature spend = monthly_charges * tenure_months",
        _features("spend = monthly_charges * tenure_months"),
    ),
    Case(
        "feature",
        "could you add charge_rate = monthly_charges / (tenure_months + 1)?",
        _features("charge_rate = monthly_charges / (tenure_months + 1)"),
    ),
    Case(
        "feature",
        "add these features: a = monthly_charges / support_calls; b = tenure_months - support_calls",
        _features("a = monthly_charges / support_calls", "b = tenure_months - support_calls"),
    ),
    Case(
        "feature",
        "make a new variable calls_per_year = support_calls * 12",
        _features("calls_per_year = support_calls * 12"),
    ),
    Case(
        "feature",
        "derive total = monthly_charges * tenure_months",
        _features("total = monthly_charges * tenure_months"),
    ),
    Case(
        "feature",
        "add the feature log_charges = log(monthly_charges)",
        _features("log_charges = log(monthly_charges)"),
    ),
    Case(
        "feature",
        "please add a derived feature: tenure_years = tenure_months / 12",
        _features("tenure_years = tenure_months / 12"),
    ),
    Case(
        "feature",
        "new feature x = tenure_months * support_calls please",
        _features("x = tenure_months * support_calls"),
    ),
    Case(
        "feature",
        "feature: charge_per_month = monthly_charges / tenure_months",
        _features("charge_per_month = monthly_charges / tenure_months"),
    ),
    # data questions, answered without a language model
    Case(
        "data",
        "how many rows have tenure above 50?",
        _query(aggregate="count", where=[_where("tenure_months", ">", 50)]),
    ),
    Case(
        "data",
        "how many customers have more than 3 support calls",
        _query(aggregate="count", where=[_where("support_calls", ">", 3)]),
    ),
    Case(
        "data",
        "what share of churn is yes",
        _query(aggregate="share", where=[_where("churn", "==", "yes")]),
    ),
    Case(
        "data",
        "what percentage of customers are on a month-to-month contract?",
        _query(aggregate="share", where=[_where("contract", "==", "month-to-month")]),
    ),
    Case(
        "data",
        "average monthly charges by contract",
        _query(aggregate="mean", column="monthly_charges", by="contract"),
    ),
    Case("data", "what's the median tenure", _query(aggregate="median", column="tenure_months")),
    Case("data", "max monthly charges?", _query(aggregate="max", column="monthly_charges")),
    Case("data", "lowest tenure_months", _query(aggregate="min", column="tenure_months")),
    Case("data", "how many rows are there", _query(aggregate="count", where=[])),
    Case(
        "data",
        "how many customers churned?",
        _query(aggregate="count", where=[_where("churn", "==", "yes")]),
    ),
    Case(
        "data",
        "mean support calls for fiber customers",
        _query(aggregate="mean", column="support_calls", where=[_where("internet", "==", "fiber")]),
    ),
    Case("data", "count of customers per internet type", _query(aggregate="count", by="internet")),
    Case(
        "data",
        "how many rows where monthly_charges is under 30",
        _query(aggregate="count", where=[_where("monthly_charges", "<", 30)]),
    ),
    Case(
        "data",
        "what fraction of rows have internet = none",
        _query(aggregate="share", where=[_where("internet", "==", "none")]),
    ),
    Case(
        "data",
        "average price by region",
        _query(aggregate="mean", column="price", by="region"),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "top 5 cities by revenue",
        _query(aggregate="sum", column="revenue", by="city", top=5),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "total revenue per product",
        _query(aggregate="sum", column="revenue", by="product"),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "which region has the highest average price",
        _query(aggregate="mean", column="price", by="region", top=1),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "how many orders were returned",
        _query(aggregate="count", where=[_where("returned", "==", "yes")]),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "sum of units in the north region",
        _query(aggregate="sum", column="units", where=[_where("region", "==", "north")]),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "top 3 products by units sold",
        _query(aggregate="sum", column="units", by="product", top=3),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "what is the maximum revenue",
        _query(aggregate="max", column="revenue"),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "avg revenue for orders with more than 10 units",
        _query(aggregate="mean", column="revenue", where=[_where("units", ">", 10)]),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "how many orders have a price between 20 and 50",
        _query(aggregate="count", where=[_where("price", ">=", 20), _where("price", "<=", 50)]),
        SALES,
        FRESH,
    ),
    # what would improve the model
    Case("improve", "what would improve it?", IMPROVE),
    Case("improve", "how can I make the model better?", IMPROVE),
    Case("improve", "any tips to boost the score?", IMPROVE),
    Case("improve", "what should I try next", IMPROVE),
    Case("improve", "how do I get a higher auc", IMPROVE),
    Case("improve", "suggestions?", IMPROVE),
    # several requests in one message
    Case(
        "several",
        "use F1 and only trees, then train",
        (("train_models", {"metric": "f1", "models": ["tree"]}),),
    ),
    Case(
        "several",
        "use auc, give it 2 minutes and train on churn",
        _train(target="churn", metric="roc_auc", budget_s=120),
        situation=FRESH,
    ),
    Case(
        "several",
        "train to predict churn with f1 then show the leaderboard",
        (("train_models", {"target": "churn", "metric": "f1"}), *BOARD),
        situation=FRESH,
    ),
    Case("several", "tune for a minute and then explain it", (*_tune(budget_s=60), *EXPLAIN)),
    Case("several", "show me the leaderboard and download the model", (*BOARD, *FILES)),
    Case(
        "several",
        "drop knn, also try svm, and retrain",
        (("set_plan", {"remove_models": ["knn"], "add_models": ["svm"]}), ("train_models", {})),
    ),
    Case(
        "several",
        "use rmse and predict revenue",
        _train(target="revenue", metric="root_mean_squared_error"),
        SALES,
        FRESH,
    ),
    Case(
        "several",
        "explain the model and plot tenure vs churn",
        (*EXPLAIN, *_plot("churn", "tenure_months")),
    ),
    Case(
        "several",
        "profile the data, then train a model for churn",
        (*PROFILE, *_train(target="churn")),
        situation=FRESH,
    ),
    Case(
        "several",
        "set the metric to accuracy; budget 5 minutes",
        _plan(metric="accuracy", budget_s=300),
    ),
    Case("several", "only boosting, 3 minutes, go", _train(models=["boosting"], budget_s=180)),
    Case(
        "several",
        "why is contract important and what would improve the model?",
        (*_why("contract"), *IMPROVE),
    ),
    Case("several", "what's the leaderboard? also download the model card", (*BOARD, *FILES)),
    # unclear or ambiguous: ask back
    Case("ask", "train a model", ASK, situation=FRESH),
    Case("ask", "fit a model please", ASK, situation=FRESH),
    Case("ask", "predict sales", ASK, situation=FRESH),
    Case("ask", "write me a poem about the sea", ASK, situation=FRESH),
    Case("ask", "what's the weather like in Paris?", ASK),
    Case("ask", "go", ASK, situation=FRESH),
    # Written after the rules above existed, and measured before changing them for it:
    # 81 of 96 understood on first sight, every miss but four a question back.
    Case(
        "train",
        "ok let's get a model going that predicts churn",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case(
        "train",
        "Could you please teach a model to spot churners?",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case(
        "train", "i need to predict which customers churn", _train(target="churn"), situation=FRESH
    ),
    Case("train", "churn is what I care about. build it", _train(target="churn"), situation=FRESH),
    Case("train", "fit churn", _train(target="churn"), situation=FRESH),
    Case("train", "run the training again", _train()),
    Case(
        "train", "Train a model using revenue as the label", _train(target="revenue"), SALES, FRESH
    ),
    Case("train", "forecast units", _train(target="units"), SALES, FRESH),
    Case("train", "can u make a predictive model for price", _train(target="price"), SALES, FRESH),
    Case("target", "no wait, I want to predict contract", _train(target="contract")),
    Case("target", "set target to internet", _train(target="internet")),
    Case("target", "let's try predicting payment_method instead", _train(target="payment_method")),
    Case("target", "outcome should be tenure months", _train(target="tenure_months")),
    Case("target", "what if we predicted monthly charges", _train(target="monthly_charges")),
    Case("metric", "please optimize f1", _plan(metric="f1")),
    Case("metric", "I want the models ranked by log-loss", _plan(metric="log_loss")),
    Case("metric", "use AUC-ROC", _plan(metric="roc_auc")),
    Case("metric", "measure with accuracy instead of auc", _plan(metric="accuracy")),
    Case("metric", "minimise MAE", _plan(metric="mean_absolute_error"), SALES, SALES_TRAINED),
    Case("metric", "switch to r2", _plan(metric="r2"), SALES, SALES_TRAINED),
    Case("models", "just xgboost", _plan(models=["xgboost"])),
    Case("models", "try a random forest too", _plan(add_models=["random_forest"])),
    Case("models", "don't bother with svm", _plan(remove_models=["svm"])),
    Case("models", "restrict to logistic regression", _plan(models=["logistic_regression"])),
    Case("models", "add knn to the candidates", _plan(add_models=["knn"])),
    Case("models", "exclude catboost", _plan(remove_models=["catboost"])),
    Case("budget", "spend 4 minutes on it", _plan(budget_s=240)),
    Case("budget", "give it a couple of minutes", _plan(budget_s=120)),
    Case("budget", "budget of 20 min", _plan(budget_s=1200)),
    Case("budget", "keep it under 45 secs", _plan(budget_s=45)),
    Case("budget", "you can take up to an hour and a half", _plan(budget_s=5400)),
    Case("tune", "tune more", _tune()),
    Case("tune", "hyperparameter tuning for 15 minutes please", _tune(budget_s=900)),
    Case("tune", "could you optimise the best model's settings for a minute", _tune(budget_s=60)),
    Case("tune", "fine tune", _tune()),
    Case("tune", "try tuning it for 2 min", _tune(budget_s=120)),
    Case("explain", "so how did it do?", EXPLAIN),
    Case("explain", "what's driving the predictions?", EXPLAIN),
    Case("explain", "is the model any good", EXPLAIN),
    Case("explain", "show me the confusion matrix", EXPLAIN),
    Case("explain", "which variables matter", EXPLAIN),
    Case("explain", "interpret the model for me", EXPLAIN),
    Case("why", "why does the model care about tenure", _why("tenure_months")),
    Case("why", "how much does contract matter?", _why("contract")),
    Case("why", "what is the effect of monthly_charges on churn", _why("monthly_charges")),
    Case("why", "is internet important?", _why("internet")),
    Case("why", "explain support calls", _why("support_calls")),
    Case("leaderboard", "show me the ranking", BOARD),
    Case("leaderboard", "which algorithm was best?", BOARD),
    Case("leaderboard", "how do the models compare?", BOARD),
    Case("leaderboard", "list all the candidates and their scores", BOARD),
    Case("leaderboard", "scoreboard", BOARD),
    Case("download", "how do I download it?", FILES),
    Case("download", "export everything", FILES),
    Case("download", "can you give me the pickle file", FILES),
    Case("download", "I want to save the trained pipeline", FILES),
    Case("download", "where are the files", FILES),
    Case("plot", "histogram of tenure please", _plot("tenure_months")),
    Case("plot", "plot churn by contract", _plot("contract", "churn")),
    Case(
        "plot",
        "show me monthly charges vs tenure as a scatter",
        _plot("tenure_months", "monthly_charges"),
    ),
    Case("plot", "chart the support calls", _plot("support_calls")),
    Case("plot", "visualize internet", _plot("internet")),
    Case("profile", "what does the data look like?", PROFILE, situation=FRESH),
    Case("profile", "give me a summary of the file", PROFILE, situation=FRESH),
    Case("profile", "check the data for problems", PROFILE, situation=FRESH),
    Case("profile", "profile", PROFILE, situation=FRESH),
    Case("profile", "which columns do we have", PROFILE, situation=FRESH),
    Case(
        "predict",
        "here are new customers, predict them" + ATTACHED_NEW,
        PREDICT,
        situation=NEW_FILE,
    ),
    Case("predict", "score" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case("predict", "run predictions" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case(
        "predict", "who is going to churn in this list?" + ATTACHED_NEW, PREDICT, situation=NEW_FILE
    ),
    Case("predict", "apply the model" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case(
        "feature",
        "add feature ratio = monthly_charges / tenure_months",
        _features("ratio = monthly_charges / tenure_months"),
    ),
    Case(
        "feature",
        "create a feature called busy = support_calls > 3",
        _features("busy = support_calls > 3"),
    ),
    Case(
        "feature",
        "try adding tenure_months * monthly_charges as a feature",
        _features("tenure_months_monthly_charges = tenure_months * monthly_charges"),
    ),
    Case(
        "data",
        "how many customers are on fiber?",
        _query(aggregate="count", where=[_where("internet", "==", "fiber")]),
    ),
    Case("data", "what's the average tenure?", _query(aggregate="mean", column="tenure_months")),
    Case(
        "data",
        "how many rows have support_calls of 0",
        _query(aggregate="count", where=[_where("support_calls", "==", 0)]),
    ),
    Case(
        "data",
        "churn rate by contract",
        _query(aggregate="share", by="contract", where=[_where("churn", "==", "yes")]),
    ),
    Case(
        "data",
        "number of customers with monthly charges over 100",
        _query(aggregate="count", where=[_where("monthly_charges", ">", 100)]),
    ),
    Case(
        "data",
        "median price per city",
        _query(aggregate="median", column="price", by="city"),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "what percent of orders got returned?",
        _query(aggregate="share", where=[_where("returned", "==", "yes")]),
        SALES,
        FRESH,
    ),
    Case(
        "data",
        "total units by region",
        _query(aggregate="sum", column="units", by="region"),
        SALES,
        FRESH,
    ),
    Case("data", "smallest order price", _query(aggregate="min", column="price"), SALES, FRESH),
    Case(
        "data",
        "bottom 3 products by revenue",
        _query(aggregate="sum", column="revenue", by="product", top=3, lowest=True),
        SALES,
        FRESH,
    ),
    Case("improve", "how do we do better", IMPROVE),
    Case("improve", "what can I do to improve accuracy?", IMPROVE),
    Case("improve", "ideas for improvement?", IMPROVE),
    Case("several", "use accuracy and give it 3 minutes", _plan(metric="accuracy", budget_s=180)),
    Case(
        "several",
        "train on churn with only linear models",
        _train(target="churn", models=["linear"]),
        situation=FRESH,
    ),
    Case("several", "tune for 2 min, then download the model", (*_tune(budget_s=120), *FILES)),
    Case("several", "show the leaderboard and explain the winner", (*BOARD, *EXPLAIN)),
    Case(
        "several",
        "plot tenure against churn and tell me why tenure matters",
        (*_plot("churn", "tenure_months"), *_why("tenure_months")),
    ),
    Case("ask", "make a model", ASK, situation=FRESH),
    Case("ask", "tell me a joke", ASK),
    Case("ask", "predict the weather", ASK, situation=FRESH),
    Case("deploy", "deploy the model", (("deploy_model", {}),)),
    Case("deploy", "can you put it behind an API?", (("deploy_model", {}),)),
    Case("deploy", "serve the model so my app can call it", (("deploy_model", {}),)),
    # Found by trying the chat end to end
    Case(
        "several",
        "hey, can you figure out who's likely to churn? use f1",
        _train(target="churn", metric="f1"),
        situation=FRESH,
    ),
    Case(
        "train", "what's the chance a customer will churn", _train(target="churn"), situation=FRESH
    ),
    Case(
        "data",
        "what share of month-to-month customers churned",
        _query(aggregate="share", where=["churn == yes"], among=["contract == month-to-month"]),
    ),
    Case(
        "data",
        "what percentage of fiber customers churned?",
        _query(aggregate="share", where=["churn == yes"], among=["internet == fiber"]),
    ),
    # A third batch, also measured before changing the rules: 35 of 44 on first sight.
    Case(
        "train",
        "Hi! I have customer data and want to predict churn. Can you help?",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case(
        "train",
        "predict the churn column using everything else",
        _train(target="churn"),
        situation=FRESH,
    ),
    Case(
        "train",
        "build the best model you can for churn in 2 minutes",
        _train(target="churn", budget_s=120),
        situation=FRESH,
    ),
    Case(
        "train",
        "what determines whether an order gets returned? train something",
        _train(target="returned"),
        SALES,
        FRESH,
    ),
    Case("train", "Retrain with the new settings", _train()),
    Case("target", "scratch that, the target should be contract", _train(target="contract")),
    Case("target", "predict internet type instead of churn", _train(target="internet")),
    Case("metric", "auc pls", _plan(metric="roc_auc")),
    Case(
        "metric",
        "I'd rather optimize for balanced accuracy since classes are imbalanced",
        _plan(metric="balanced_accuracy"),
    ),
    Case("metric", "can you use precision-recall auc", _plan(metric="average_precision")),
    Case("models", "skip the slow ones like svm and knn", _plan(remove_models=["svm", "knn"])),
    Case("models", "only gradient boosted trees please", _plan(models=["boosting"])),
    Case("models", "include neural nets", _plan(add_models=["mlp"])),
    Case("budget", "5 minute limit", _plan(budget_s=300)),
    Case("budget", "take your time, 10 minutes is fine", _plan(budget_s=600)),
    Case("tune", "tune it more, maybe 3 minutes", _tune(budget_s=180)),
    Case("tune", "run more trials on the winner", _tune()),
    Case("explain", "what's the model's accuracy?", EXPLAIN),
    Case("explain", "why does the model predict what it predicts", EXPLAIN),
    Case("explain", "what features matter most?", EXPLAIN),
    Case("why", "why is monthly_charges at the top?", _why("monthly_charges")),
    Case("why", "does the contract type have an effect?", _why("contract")),
    Case("leaderboard", "what was second best?", BOARD),
    Case("leaderboard", "show all results", BOARD),
    Case("download", "give me the model so I can use it in python", FILES),
    Case("download", "I'd like to download the model card and script", FILES),
    Case("plot", "plot monthly_charges", _plot("monthly_charges")),
    Case("plot", "show a chart of churn vs support calls", _plot("support_calls", "churn")),
    Case("profile", "before training, show me an overview", PROFILE, situation=FRESH),
    Case("profile", "are there missing values?", PROFILE, situation=FRESH),
    Case("predict", "now predict for this one" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case("predict", "give me predictions" + ATTACHED_NEW, PREDICT, situation=NEW_FILE),
    Case(
        "feature",
        "add a feature: charges_x_calls = monthly_charges * support_calls",
        _features("charges_x_calls = monthly_charges * support_calls"),
    ),
    Case("data", "how many customers do we have?", _query(aggregate="count", where=[])),
    Case(
        "data",
        "average monthly charges for churned customers",
        _query(aggregate="mean", column="monthly_charges", where=["churn == yes"]),
    ),
    Case("data", "how many customers per contract type?", _query(aggregate="count", by="contract")),
    Case(
        "data",
        "max tenure among fiber users",
        _query(aggregate="max", column="tenure_months", where=["internet == fiber"]),
    ),
    Case(
        "data", "what's the total revenue?", _query(aggregate="sum", column="revenue"), SALES, FRESH
    ),
    Case(
        "data",
        "top 2 regions by average price",
        _query(aggregate="mean", column="price", by="region", top=2),
        SALES,
        FRESH,
    ),
    Case("improve", "the score is low, what can we do?", IMPROVE),
    Case(
        "several",
        "use f1, skip svm and retrain for 2 minutes",
        (
            ("set_plan", {"metric": "f1", "remove_models": ["svm"], "budget_s": 120}),
            ("train_models", {}),
        ),
    ),
    Case("several", "explain the model then suggest improvements", (*EXPLAIN, *IMPROVE)),
    Case("ask", "do the thing", ASK, situation=FRESH),
    Case("ask", "what is machine learning?", ASK),
    Case("notebook", "export this as a jupyter notebook", (("export_notebook", {}),)),
    Case("notebook", "can I get an .ipynb of all this?", (("export_notebook", {}),)),
)
