"""A held-out set of phrasings for the offline parser (issue 18): never used to tune it.

Written before the parser was changed for it, by imagining analysts at a
keyboard (typos, polite and terse forms, several asks in one message), on two
files the parser's own suite does not use (employees, house sales). The rules
must never be tuned on these cases: tune on ``offline_dev.py`` and measure
here. ``tests/assistant/test_offline_heldout.py`` holds the floor measured
after tuning; ``python -m tests.assistant.offline_scoring`` prints the table.
"""

from __future__ import annotations

from assistant.offline.facts import ColumnFacts, FileFacts, Situation
from tests.assistant.offline_scoring import (
    ASK,
    BOARD,
    EXPLAIN,
    FILES,
    FRESH,
    IMPROVE,
    PREDICT,
    PROFILE,
    Case,
    cases_on,
    features,
    plan,
    plot,
    query,
    train,
    tune,
    why,
)

HR = FileFacts(
    "d1",
    (
        ColumnFacts("employee_id", True, (), is_unique=True),
        ColumnFacts("hire_date", False),
        ColumnFacts("department", False, ("sales", "engineering", "support", "finance")),
        ColumnFacts("job_level", True, ("1", "2", "3", "4", "5")),
        ColumnFacts("age", True),
        ColumnFacts("monthly_income", True),
        ColumnFacts("overtime", False, ("no", "yes")),
        ColumnFacts("satisfaction", True, ("1", "2", "3", "4")),
        ColumnFacts("distance_from_home", True),
        ColumnFacts("attrition", False, ("no", "yes")),
    ),
)
HOMES = FileFacts(
    "d1",
    (
        ColumnFacts("listing_id", True, (), is_unique=True),
        ColumnFacts("sold_on", False),
        ColumnFacts("neighborhood", False, ("downtown", "riverside", "hillcrest", "old town")),
        ColumnFacts("bedrooms", True, ("1", "2", "3", "4", "5", "6")),
        ColumnFacts("bathrooms", True, ("1", "2", "3", "4")),
        ColumnFacts("living_area", True),
        ColumnFacts("year_built", True),
        ColumnFacts("garage", False, ("no", "yes")),
        ColumnFacts("sale_price", True),
    ),
)
HR_TRAINED = Situation(has_model=True, target="attrition")
HOMES_TRAINED = Situation(has_model=True, target="sale_price")
HR_NEW = Situation(has_model=True, target="attrition", new_file="d2")
ATTACHED = '\n\n[Attached: "q3_staff.csv" (dataset d2)]'
_hr = cases_on(HR, HR_TRAINED)
_homes = cases_on(HOMES, HOMES_TRAINED)


CASES: tuple[Case, ...] = (
    # train
    _hr("train", "hi! could you train something that predicts attrition?", train(target="attrition"), FRESH),
    _hr("train", "I need to know who is likely to quit - attrition is the column", train(target="attrition"), FRESH),
    _homes("train", "build a model for sale price pls", train(target="sale_price"), FRESH),
    _homes("train", "estimate the sale price of a house from the other columns", train(target="sale_price"), FRESH),
    _hr("train", "train on attrtion", train(target="attrition"), FRESH),
    _hr("train", "lets get a classifier going for attrition", train(target="attrition"), FRESH),
    _homes("train", "which variables influence sale price the most? fit a model", train(target="sale_price"), FRESH),
    _hr("train", "Create a predictive model. Target column: attrition", train(target="attrition"), FRESH),
    _homes("train", "regress sale_price on everything else", train(target="sale_price"), FRESH),
    _hr("train", "ok now train", train()),
    _hr("train", "run the training again", train()),
    _hr("train", "can we forecast monthly income?", train(target="monthly_income"), FRESH),
    # change the target
    _hr("target", "switch to predicting overtime", train(target="overtime")),
    _hr("target", "no wait, I want satisfaction as the target", train(target="satisfaction")),
    _hr("target", "let's model monthly income instead of attrition", train(target="monthly_income")),
    _hr("target", "change what we predict to job level", train(target="job_level")),
    _homes("target", "target should be garage", train(target="garage")),
    _homes("target", "could you try predicting the number of bedrooms instead?", train(target="bedrooms")),
    _hr("target", "set the label column to overtime", train(target="overtime")),
    _homes("target", "predict year built now", train(target="year_built")),
    _hr("target", "what about departmnet as the outcome", train(target="department")),
    # metric
    _hr("metric", "F1 score please", plan(metric="f1")),
    _hr("metric", "please rank by ROC-AUC", plan(metric="roc_auc")),
    _hr("metric", "switch the scoring to accuracy", plan(metric="accuracy")),
    _hr("metric", "use logloss", plan(metric="log_loss")),
    _homes("metric", "I care about mean absolute error", plan(metric="mean_absolute_error")),
    _homes("metric", "evaluate with r squared", plan(metric="r2")),
    _homes("metric", "RMSE instead please", plan(metric="root_mean_squared_error")),
    _hr("metric", "measure the models by f-1", plan(metric="f1")),
    _hr("metric", "pick the best model by area under the curve", plan(metric="roc_auc")),
    # models
    _hr("models", "just gradient boosting please", plan(models=["boosting"])),
    _hr("models", "no linear models", plan(remove_models=["linear"])),
    _hr("models", "throw in a neural network", plan(add_models=["mlp"])),
    _hr("models", "leave out k nearest neighbours", plan(remove_models=["knn"])),
    _hr("models", "only random forests", plan(models=["random_forest"])),
    _hr("models", "add support vector machines to the mix", plan(add_models=["svm"])),
    _hr("models", "stick to tree-based models", plan(models=["tree"])),
    _hr("models", "try xgboost and lightgbm only", plan(models=["xgboost", "lightgbm"])),
    _hr("models", "exclude the svm", plan(remove_models=["svm"])),
    # budget
    _hr("budget", "give training 3 minutes", plan(budget_s=180)),
    _hr("budget", "you have 45 secs", plan(budget_s=45)),
    _hr("budget", "budget: 10 min", plan(budget_s=600)),
    _hr("budget", "keep the time limit to thirty seconds", plan(budget_s=30)),
    _hr("budget", "let it run for an hour", plan(budget_s=3600)),
    _hr("budget", "set the time budget to 4 minutes please", plan(budget_s=240)),
    _hr("budget", "max 2 mins", plan(budget_s=120)),
    _hr("budget", "allow 1 hr 30 min", plan(budget_s=5400)),
    # tune
    _hr("tune", "fine-tune the winner", tune()),
    _hr("tune", "hyperparameter search for 5 minutes", tune(budget_s=300)),
    _hr("tune", "can you squeeze more out of the best model by tuning it for 2 min?", tune(budget_s=120)),
    _hr("tune", "optimise its hyperparameters", tune()),
    _hr("tune", "tune tune tune", tune()),
    _hr("tune", "do some more hyper-param tuning, like 90s", tune(budget_s=90)),
    _hr("tune", "tweak the settings of the top model a bit more", tune()),
    _hr("tune", "tunning for a minute pls", tune(budget_s=60)),
    # explain
    _hr("explain", "what did the model learn?", EXPLAIN),
    _hr("explain", "which features matter the most", EXPLAIN),
    _hr("explain", "show me feature importance", EXPLAIN),
    _hr("explain", "explain the results", EXPLAIN),
    _hr("explain", "how does it make its decisions", EXPLAIN),
    _hr("explain", "interpret the model for me", EXPLAIN),
    _hr("explain", "what are the top drivers?", EXPLAIN),
    _homes("explain", "give me the shap stuff", EXPLAIN),
    # why a feature matters
    _hr("why", "why does overtime matter so much?", why("overtime")),
    _hr("why", "how is age affecting the predictions", why("age")),
    _hr("why", "explain the role of monthly income", why("monthly_income")),
    _hr("why", "is satisfaction important? why", why("satisfaction")),
    _hr("why", "tell me more about the effect of distance from home", why("distance_from_home")),
    _homes("why", "why is living area ranked so high", why("living_area")),
    _homes("why", "what's the deal with year_built", why("year_built")),
    # leaderboard
    _hr("leaderboard", "how did the other models do?", BOARD),
    _hr("leaderboard", "compare all the models", BOARD),
    _hr("leaderboard", "show the ranking", BOARD),
    _hr("leaderboard", "leaderbord", BOARD),
    _hr("leaderboard", "which model won?", BOARD),
    _hr("leaderboard", "list all candidates with their scores", BOARD),
    _homes("leaderboard", "scores of every model pls", BOARD),
    # download
    _hr("download", "where can I get the model file?", FILES),
    _hr("download", "give me the trained model", FILES),
    _hr("download", "I want to download everything", FILES),
    _hr("download", "export the model", FILES),
    _hr("download", "save the model to disk", FILES),
    _homes("download", "link to the pickle?", FILES),
    _hr("download", "dl the model card", FILES),
    # plot
    _hr("plot", "histogram of age", plot("age")),
    _hr("plot", "plot monthly income against age", plot("age", "monthly_income")),
    _hr("plot", "chart satisfaction", plot("satisfaction")),
    _homes("plot", "show a scatter of living area and sale price", plot("living_area", "sale_price")),
    _homes("plot", "visualise bedrooms vs sale price", plot("bedrooms", "sale_price")),
    _hr("plot", "graph the distribution of distance from home", plot("distance_from_home")),
    _homes("plot", "can I see a plot of year built", plot("year_built")),
    # profile
    _hr("profile", "describe the dataset", PROFILE, FRESH),
    _hr("profile", "what's in this file?", PROFILE, FRESH),
    _homes("profile", "give me an overview of the data", PROFILE, FRESH),
    _hr("profile", "summary stats please", PROFILE, FRESH),
    _hr("profile", "what columns are there", PROFILE, FRESH),
    _homes("profile", "any missing values?", PROFILE, FRESH),
    _hr("profile", "eda", PROFILE, FRESH),
    _homes("profile", "look at the data first", PROFILE, FRESH),
    # predict on a new file
    _hr("predict", "use the model on these rows" + ATTACHED, PREDICT, HR_NEW),
    _hr("predict", "score this file" + ATTACHED, PREDICT, HR_NEW),
    _hr("predict", "what would the model say for these employees?" + ATTACHED, PREDICT, HR_NEW),
    _hr("predict", "apply it to the attached" + ATTACHED, PREDICT, HR_NEW),
    _hr("predict", "predictions please" + ATTACHED, PREDICT, HR_NEW),
    _hr("predict", "who in this list is likely to leave?" + ATTACHED, PREDICT, HR_NEW),
    _hr("predict", "run the model over the new data" + ATTACHED, PREDICT, HR_NEW),
    _hr("predict", "fill in attrition for these" + ATTACHED, PREDICT, HR_NEW),
    # add a feature
    _hr("feature", "add a feature income_per_level = monthly_income / job_level", features("income_per_level = monthly_income / job_level")),
    _hr("feature", "new feature: income_per_age = monthly_income / age", features("income_per_age = monthly_income / age")),
    _homes("feature", "add rooms = bedrooms + bathrooms", features("rooms = bedrooms + bathrooms")),
    _hr("feature", "can you engineer age squared?", features()),
    _hr("feature", "include the ratio of monthly income to age as a feature", features()),
    _homes("feature", "feature: area_per_bedroom = living_area / bedrooms", features("area_per_bedroom = living_area / bedrooms")),
    _hr("feature", "derive monthly income times job level", features()),
    _homes("feature", "add bathrooms per bedroom as a new column", features()),
    # data questions
    _hr("data", "how many employees work overtime?", query(aggregate="count", where=["overtime == yes"])),
    _hr("data", "what fraction of people left?", query(aggregate="share", where=["attrition == yes"])),
    _hr("data", "avg monthly income per department", query(aggregate="mean", column="monthly_income", by="department")),
    _hr("data", "median age", query(aggregate="median", column="age")),
    _hr("data", "oldest employee's age?", query(aggregate="max", column="age")),
    _hr("data", "how many people are over 50", query(aggregate="count", where=["age > 50"])),
    _hr("data", "total income by department", query(aggregate="sum", column="monthly_income", by="department")),
    _homes("data", "which 3 neighborhoods have the highest average sale price", query(aggregate="mean", column="sale_price", by="neighborhood", top=3)),
    _homes("data", "min sale price", query(aggregate="min", column="sale_price")),
    _homes("data", "how many houses have a garage", query(aggregate="count", where=["garage == yes"])),
    _homes("data", "number of listings per neighborhood", query(aggregate="count", by="neighborhood")),
    _hr("data", "what % of employees in sales left", query(aggregate="share", where=["attrition == yes"], among=["department == sales"])),
    _homes("data", "count rows where bedrooms >= 4", query(aggregate="count", where=["bedrooms >= 4"])),
    _homes("data", "what's the average living area of homes built before 1950?", query(aggregate="mean", column="living_area", where=["year_built < 1950"])),
    _hr("data", "how many rows in the file", query(aggregate="count", where=[])),
    _hr("data", "top 2 departments by head count", query(aggregate="count", by="department", top=2)),
    # several requests in one message
    _hr("several", "use accuracy and 2 minutes, then train on attrition", train(target="attrition", metric="accuracy", budget_s=120), FRESH),
    _hr("several", "tune it for a minute then show me the leaderboard", (*tune(budget_s=60), *BOARD)),
    _hr("several", "retrain with only boosting and then explain", (*train(models=["boosting"]), *EXPLAIN)),
    _homes("several", "show the data and then build a model for sale price", (*PROFILE, *train(target="sale_price")), FRESH),
    _hr("several", "explain the model, then give me the download", (*EXPLAIN, *FILES)),
    _hr("several", "switch to f1, drop svm, retrain", train(metric="f1", remove_models=["svm"])),
    _hr("several", "plot age and tell me why it matters", (*plot("age"), *why("age"))),
    _hr("several", "leaderboard + model card please", (*BOARD, *FILES)),
    _hr("several", "predict on the attached file then let me download the predictions" + ATTACHED, (*PREDICT, *FILES), HR_NEW),
    _hr("several", "what would make it better? and show the ranking", (*IMPROVE, *BOARD)),
    # not something to do offline, or not enough to go on: ask back
    _hr("ask", "make a model", ASK, FRESH),
    _hr("ask", "tell me a joke", ASK),
    _hr("ask", "predict the stock price", ASK, FRESH),
    _hr("ask", "what's the capital of France?", ASK),
    _hr("ask", "hmm", ASK),
    _hr("ask", "could you predict bonus", ASK, FRESH),
)  # fmt: skip
