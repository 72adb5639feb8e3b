"""The dev set of phrasings for the offline parser (issue 18): the rules are tuned on these.

Written apart from the held-out set (``offline_heldout.py``, never tuned on),
on two other files (loans, used cars), in the same spirit: how analysts type,
with typos, polite and terse forms and several asks in one message.
"""

from __future__ import annotations

from assistant.offline.facts import ColumnFacts, FileFacts, Situation
from tests.assistant.offline_scoring import (
    ASK,
    BOARD,
    EXPLAIN,
    FILES,
    IMPROVE,
    PREDICT,
    PROFILE,
    Case,
    features,
    plan,
    plot,
    query,
    train,
    tune,
    why,
)

LOANS = FileFacts(
    "d1",
    (
        ColumnFacts("loan_id", True, (), is_unique=True),
        ColumnFacts("application_date", False),
        ColumnFacts("purpose", False, ("car", "home", "education", "business")),
        ColumnFacts("amount", True),
        ColumnFacts("term_months", True, ("12", "24", "36", "60")),
        ColumnFacts("interest_rate", True),
        ColumnFacts("employment_years", True),
        ColumnFacts("home_owner", False, ("no", "yes")),
        ColumnFacts("credit_score", True),
        ColumnFacts("defaulted", False, ("no", "yes")),
    ),
)
CARS = FileFacts(
    "d1",
    (
        ColumnFacts("car_id", True, (), is_unique=True),
        ColumnFacts("listed_at", False),
        ColumnFacts("make", False, ("toyota", "ford", "bmw", "kia", "fiat")),
        ColumnFacts("model_year", True),
        ColumnFacts("mileage", True),
        ColumnFacts("fuel", False, ("petrol", "diesel", "electric", "hybrid")),
        ColumnFacts("transmission", False, ("manual", "automatic")),
        ColumnFacts("engine_size", True),
        ColumnFacts("price", True),
    ),
)
FRESH = Situation()
LOANS_TRAINED = Situation(has_model=True, target="defaulted")
CARS_TRAINED = Situation(has_model=True, target="price")
LOANS_NEW = Situation(has_model=True, target="defaulted", new_file="d2")
ATTACHED = '\n\n[Attached: "applications_june.csv" (dataset d2)]'


def _loans(intent: str, text: str, calls: tuple, situation: Situation = LOANS_TRAINED) -> Case:
    return Case(intent, text, calls, LOANS, situation)


def _cars(intent: str, text: str, calls: tuple, situation: Situation = CARS_TRAINED) -> Case:
    return Case(intent, text, calls, CARS, situation)


CASES: tuple[Case, ...] = (
    # train
    _loans("train", "please build something to predict who defaults", train(target="defaulted"), FRESH),
    _loans("train", "defaulted is what I care about - model it", train(target="defaulted"), FRESH),
    _cars("train", "can you estimate car prices from the other columns?", train(target="price"), FRESH),
    _cars("train", "price prediction model pls", train(target="price"), FRESH),
    _loans("train", "trian on defaulted", train(target="defaulted"), FRESH),
    _loans("train", "i want a classifier: defaulted", train(target="defaulted"), FRESH),
    _cars("train", "what determines the price? build a model", train(target="price"), FRESH),
    _loans("train", "Model target = defaulted. go", train(target="defaulted"), FRESH),
    _cars("train", "regress price on the rest", train(target="price"), FRESH),
    _loans("train", "alright, train", train()),
    _loans("train", "redo the training", train()),
    _loans("train", "can you forecast the interest rate?", train(target="interest_rate"), FRESH),
    # change the target
    _loans("target", "switch to predicting home owner", train(target="home_owner")),
    _loans("target", "actually I want purpose as the target", train(target="purpose")),
    _loans("target", "let's model credit score instead of defaulted", train(target="credit_score")),
    _cars("target", "change what we predict to fuel", train(target="fuel")),
    _cars("target", "target should be transmission", train(target="transmission")),
    _cars("target", "could we predict the mileage instead?", train(target="mileage")),
    _loans("target", "set the label to purpose", train(target="purpose")),
    _loans("target", "what about amount as the outcome", train(target="amount")),
    # metric
    _loans("metric", "optimise for f1 please", plan(metric="f1")),
    _loans("metric", "use roc-auc", plan(metric="roc_auc")),
    _loans("metric", "score by accuracy", plan(metric="accuracy")),
    _loans("metric", "log loss as the metric", plan(metric="log_loss")),
    _cars("metric", "use mean absolute error", plan(metric="mean_absolute_error")),
    _cars("metric", "judge it by r-squared", plan(metric="r2")),
    _cars("metric", "rmse please", plan(metric="root_mean_squared_error")),
    _loans("metric", "rank with the area under the roc curve", plan(metric="roc_auc")),
    # models
    _loans("models", "boosting only", plan(models=["boosting"])),
    _loans("models", "get rid of the linear models", plan(remove_models=["linear"])),
    _loans("models", "add a neural net", plan(add_models=["mlp"])),
    _loans("models", "no nearest neighbours please", plan(remove_models=["knn"])),
    _loans("models", "just a random forest", plan(models=["random_forest"])),
    _loans("models", "include an svm too", plan(add_models=["svm"])),
    _loans("models", "tree models only", plan(models=["tree"])),
    _loans("models", "without svm", plan(remove_models=["svm"])),
    # budget
    _loans("budget", "give it 5 minutes", plan(budget_s=300)),
    _loans("budget", "time limit 20 seconds", plan(budget_s=20)),
    _loans("budget", "budget = 3 min", plan(budget_s=180)),
    _loans("budget", "you can spend ten minutes", plan(budget_s=600)),
    _loans("budget", "cap the run at two hours", plan(budget_s=7200)),
    _loans("budget", "time budget of 90 s", plan(budget_s=90)),
    _loans("budget", "max 1 min", plan(budget_s=60)),
    # tune
    _loans("tune", "fine tune the best one", tune()),
    _loans("tune", "run a hyperparameter search for 3 minutes", tune(budget_s=180)),
    _loans("tune", "optimize the hyper parameters", tune()),
    _loans("tune", "tune the top model for 45 seconds", tune(budget_s=45)),
    _loans("tune", "more tuning, 2 mins", tune(budget_s=120)),
    _loans("tune", "squeeze a bit more performance out of it", tune()),
    _loans("tune", "tunning pls", tune()),
    # explain
    _loans("explain", "what has the model learned?", EXPLAIN),
    _loans("explain", "which columns matter most?", EXPLAIN),
    _loans("explain", "feature importances please", EXPLAIN),
    _loans("explain", "explain the model's results", EXPLAIN),
    _loans("explain", "how does the model decide", EXPLAIN),
    _loans("explain", "interpret it", EXPLAIN),
    _loans("explain", "what are the main drivers", EXPLAIN),
    _cars("explain", "shap values?", EXPLAIN),
    # why a feature matters
    _loans("why", "why does credit score matter?", why("credit_score")),
    _loans("why", "how is the interest rate affecting the prediction", why("interest_rate")),
    _loans("why", "explain the role of employment years", why("employment_years")),
    _cars("why", "why is mileage so important", why("mileage")),
    _cars("why", "what's the deal with engine size", why("engine_size")),
    _loans("why", "tell me about the effect of amount", why("amount")),
    # leaderboard
    _loans("leaderboard", "how did the others do?", BOARD),
    _loans("leaderboard", "compare the models", BOARD),
    _loans("leaderboard", "show me the rankings", BOARD),
    _loans("leaderboard", "which model won", BOARD),
    _loans("leaderboard", "scores for every candidate", BOARD),
    _loans("leaderboard", "leader board pls", BOARD),
    # download
    _loans("download", "where's the model file", FILES),
    _loans("download", "give me the model", FILES),
    _loans("download", "download all the files", FILES),
    _loans("download", "export model", FILES),
    _loans("download", "save the model", FILES),
    _cars("download", "I need the pickle", FILES),
    # plot
    _loans("plot", "histogram of the interest rate", plot("interest_rate")),
    _loans("plot", "plot amount against credit score", plot("credit_score", "amount")),
    _cars("plot", "chart mileage", plot("mileage")),
    _cars("plot", "scatter of mileage and price", plot("mileage", "price")),
    _cars("plot", "can I see a plot of model year", plot("model_year")),
    _loans("plot", "graph the distribution of amount", plot("amount")),
    # profile
    _loans("profile", "describe the data", PROFILE, FRESH),
    _loans("profile", "what's in here?", PROFILE, FRESH),
    _cars("profile", "overview of the dataset please", PROFILE, FRESH),
    _loans("profile", "summary statistics", PROFILE, FRESH),
    _loans("profile", "which columns does it have", PROFILE, FRESH),
    _cars("profile", "are there missing values", PROFILE, FRESH),
    _loans("profile", "quick EDA", PROFILE, FRESH),
    # predict on a new file
    _loans("predict", "use the model on these" + ATTACHED, PREDICT, LOANS_NEW),
    _loans("predict", "score these applications" + ATTACHED, PREDICT, LOANS_NEW),
    _loans("predict", "what would it predict for this batch?" + ATTACHED, PREDICT, LOANS_NEW),
    _loans("predict", "apply the model to the attached file" + ATTACHED, PREDICT, LOANS_NEW),
    _loans("predict", "which of these will default?" + ATTACHED, PREDICT, LOANS_NEW),
    _loans("predict", "run it on the new data" + ATTACHED, PREDICT, LOANS_NEW),
    # add a feature
    _loans("feature", "add a feature rate_x_amount = interest_rate * amount", features("rate_x_amount = interest_rate * amount")),
    _loans("feature", "new feature: per_month = amount / term_months", features("per_month = amount / term_months")),
    _cars("feature", "can you engineer mileage squared?", features()),
    _loans("feature", "include the ratio of amount to credit score as a feature", features()),
    _cars("feature", "derive mileage per year", features()),
    # data questions
    _loans("data", "how many loans are for education?", query(aggregate="count", where=["purpose == education"])),
    _loans("data", "what fraction defaulted?", query(aggregate="share", where=["defaulted == yes"])),
    _loans("data", "avg amount per purpose", query(aggregate="mean", column="amount", by="purpose")),
    _loans("data", "median credit score", query(aggregate="median", column="credit_score")),
    _loans("data", "highest interest rate?", query(aggregate="max", column="interest_rate")),
    _loans("data", "how many applicants have a credit score over 700", query(aggregate="count", where=["credit_score > 700"])),
    _loans("data", "total amount by purpose", query(aggregate="sum", column="amount", by="purpose")),
    _cars("data", "which 2 makes have the highest average price", query(aggregate="mean", column="price", by="make", top=2)),
    _cars("data", "cheapest price", query(aggregate="min", column="price")),
    _cars("data", "number of cars per fuel type", query(aggregate="count", by="fuel")),
    _loans("data", "what % of home owners defaulted", query(aggregate="share", where=["defaulted == yes"], among=["home_owner == yes"])),
    _cars("data", "average mileage of cars from before 2010", query(aggregate="mean", column="mileage", where=["model_year < 2010"])),
    _loans("data", "how many rows are in the data", query(aggregate="count", where=[])),
    _loans("data", "top 3 purposes by number of loans", query(aggregate="count", by="purpose", top=3)),
    # several requests in one message
    _loans("several", "use f1 and 3 minutes, then train on defaulted", train(target="defaulted", metric="f1", budget_s=180), FRESH),
    _loans("several", "tune it for 2 min and then show the leaderboard", (*tune(budget_s=120), *BOARD)),
    _loans("several", "retrain with only trees then explain", (*train(models=["tree"]), *EXPLAIN)),
    _cars("several", "describe the data and then build a model for price", (*PROFILE, *train(target="price")), FRESH),
    _loans("several", "explain it, then let me download it", (*EXPLAIN, *FILES)),
    _loans("several", "switch to accuracy, drop knn, retrain", train(metric="accuracy", remove_models=["knn"])),
    _loans("several", "plot credit score and tell me why it matters", (*plot("credit_score"), *why("credit_score"))),
    _loans("several", "leaderboard + files please", (*BOARD, *FILES)),
    _loans("several", "how can I improve it? and show the ranking", (*IMPROVE, *BOARD)),
    # ask back
    _loans("ask", "build a model", ASK, FRESH),
    _loans("ask", "sing me a song", ASK),
    _loans("ask", "predict the weather tomorrow", ASK, FRESH),
    _loans("ask", "who won the world cup?", ASK),
    _loans("ask", "ok", ASK),
)  # fmt: skip
