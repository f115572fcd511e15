"""LightGBM event-classifier helpers for `freqaimodels/LightGBMEventClassifier.py`.

- `purge_split`: FreqAI's train/test split inside a training window is in time order
  (`shuffle: false`); labels of the last train rows can reach into the test rows, so train rows
  within the label horizon of the first test row are dropped before fitting.
- `fit_classifier`: LightGBM with balanced class weights (wins are rare) and early stopping on
  the (purged) test split.
- `window_importance`: gain and split importance, permutation importance on the held-out split
  (scikit-learn's numbers, batched: `perpflow.ai.permutation`) and mean |SHAP| from LightGBM's own TreeSHAP (`pred_contrib`, the same
  algorithm the `shap` package uses for trees, so no extra dependency).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from perpflow.ai.permutation import permutation_importance_ap

IMPORTANCE_SUFFIX = "_importance.parquet"


FAMILIES = {  # feature prefix -> (what is missing, how to fix it)
    "%-liq": ("liquidations", "record them (`perpflow collect liquidations`) or set "
              "perpflow.filters.liquidations.enabled=false"),
    "%-funding": ("funding rates", "download them (`freqtrade download-data --candle-types "
                  "funding_rate`) or set perpflow.filters.funding.enabled=false"),
    "%-oi": ("open interest", "import it (`perpflow import metrics`) or set "
             "perpflow.filters.open_interest.enabled=false"),
    "%-price_z": ("open interest", "import it or set perpflow.filters.open_interest.enabled=false"),
    "%-book": ("recorded order books", "record them (`perpflow record`) or set "
               "perpflow.filters.book.enabled=false"),
}  # fmt: skip


class TrainingDataError(ValueError):
    """A feature has no values in the training window; the message says which and what to do."""


def check_training_inputs(df: pd.DataFrame, features: list[str], pair: str) -> None:
    """Raise `TrainingDataError` naming each feature that is NaN on every row of the window."""
    empty = [c for c in features if c in df.columns and df[c].isna().all()]
    if not empty:
        return
    lines = []
    for col in empty:
        fam = next((v for k, v in FAMILIES.items() if col.startswith(k)), None)
        what, fix = fam or ("its input", "check the data for this window")
        lines.append(
            f"{col}: no {what} in {df['date'].min():%Y-%m-%d}..{df['date'].max():%Y-%m-%d}; {fix}"
        )
    raise TrainingDataError(
        f"{pair}: cannot train, features without data:\n  " + "\n  ".join(lines)
    )


def purge_split(dd: dict, train_dates: pd.Series, purge: pd.Timedelta) -> dict:
    """Drop train rows dated within `purge` before the first test row (rows in time order)."""
    n_train, n_test = len(dd["train_features"]), len(dd["test_features"])
    if n_test == 0 or len(train_dates) != n_train + n_test:
        return dd
    dates = pd.to_datetime(pd.Series(train_dates).reset_index(drop=True))
    keep = (dates.iloc[:n_train] < dates.iloc[n_train] - purge).to_numpy()
    out = dict(dd)
    out["train_features"] = dd["train_features"][keep]
    out["train_labels"] = dd["train_labels"][keep]
    out["train_weights"] = np.asarray(dd["train_weights"])[keep]
    return out


def fit_classifier(
    dd: dict, params: dict, *, early_stopping_rounds: int = 50
) -> lgb.LGBMClassifier:
    """Fit on dd's train split; early-stop on its test split when there is one."""
    p = {"class_weight": "balanced", "verbose": -1, **params}
    model = lgb.LGBMClassifier(**p)
    X, y = dd["train_features"], dd["train_labels"].iloc[:, 0]
    if len(dd["test_features"]) and dd["test_labels"].iloc[:, 0].nunique() > 1:
        # eval_set, not its successor eval_X/eval_y: LightGBM 4.7's classifier does not
        # label-encode eval_y (string classes fail), so keep the deprecated path, warning muted
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*eval_set.*deprecated")
            model.fit(X, y, sample_weight=dd["train_weights"],
                      eval_set=[(dd["test_features"], dd["test_labels"].iloc[:, 0])],
                      callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)])  # fmt: skip
    else:
        model.fit(X, y, sample_weight=dd["train_weights"])
    return model


SECOND_MODELS = ("logistic", "extra_trees")


class EventEnsemble:
    """LightGBM plus an optional second classifier voting inside the model: class probabilities
    are `(1 - weight) * lightgbm + weight * second`. FreqAI sees one model (predict,
    predict_proba, classes_) and pickles it with the window."""

    def __init__(self, primary: lgb.LGBMClassifier, second=None, weight: float = 0.0):
        self.primary, self.second, self.weight = (
            primary,
            second,
            weight if second is not None else 0.0,
        )

    def fit(self, *args, **kwargs):
        """Present for scikit-learn's estimator checks; the parts are fitted before wrapping."""
        raise TypeError("EventEnsemble wraps fitted models; fit its parts instead")

    @property
    def classes_(self) -> np.ndarray:
        return self.primary.classes_

    def predict_proba(self, X) -> np.ndarray:
        p = self.primary.predict_proba(X)
        if self.second is None or self.weight == 0:
            return p
        q = self.second.predict_proba(X)
        order = [list(self.second.classes_).index(c) for c in self.classes_]
        return (1 - self.weight) * p + self.weight * q[:, order]

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def fit_second(kind: str, dd: dict, seed: int = 1):
    """The optional second model on the same train split: "logistic" (scaled, balanced logistic
    regression) or "extra_trees" (balanced extremely randomised trees)."""
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic":
        model = make_pipeline(
            StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000)
        )
    elif kind == "extra_trees":
        model = ExtraTreesClassifier(n_estimators=200, min_samples_leaf=5, class_weight="balanced",
                                     random_state=seed, n_jobs=1)  # fmt: skip
    else:
        raise ValueError(f"freqai.second_model.type: one of {SECOND_MODELS}, got {kind!r}")
    return model.fit(dd["train_features"], dd["train_labels"].iloc[:, 0])


def window_importance(model, dd: dict, *, positive: str = "win", repeats: int = 5,
                      seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """One row per feature: gain, split and mean |SHAP| of the LightGBM part, and permutation
    importance (drop in average precision for the `positive` class on the test split, mean and
    std over `repeats`) of the whole model (an `EventEnsemble` or a plain LightGBM)."""
    names = list(dd["train_features"].columns)
    booster = (model.primary if isinstance(model, EventEnsemble) else model).booster_
    gain = booster.feature_importance("gain")
    out = pd.DataFrame({
        "feature": names, "gain": gain / max(gain.sum(), 1e-12),
        "split": booster.feature_importance("split"),
    })  # fmt: skip
    X, y = dd["test_features"], dd["test_labels"]
    evaluable = len(X) >= 10 and y.iloc[:, 0].nunique() > 1 and positive in model.classes_
    if evaluable:
        yt = (y.iloc[:, 0] == positive).to_numpy()
        col = list(model.classes_).index(positive)

        out["permutation"], out["permutation_std"] = permutation_importance_ap(
            model, X, yt, col, repeats=repeats, seed=seed
        )
        contrib = booster.predict(X.to_numpy(), pred_contrib=True)
        out["shap"] = np.abs(contrib[:, : len(names)]).mean(axis=0)
    else:
        out["permutation"] = out["permutation_std"] = out["shap"] = np.nan
    return out


def test_scores(model, dd: dict, *, positive: str = "win",
                threshold: float = 0.5) -> dict:  # fmt: skip
    """Precision/recall of `positive` on the test split at `threshold`, with counts."""
    X, y = dd["test_features"], dd["test_labels"]
    if not len(X) or positive not in model.classes_:
        return {"test_rows": len(X), "precision": np.nan, "recall": np.nan, "base_rate": np.nan}
    p = model.predict_proba(X)[:, list(model.classes_).index(positive)]
    return scores(p >= threshold, (y.iloc[:, 0] == positive).to_numpy())


def scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Precision, recall and base rate of boolean predictions (NaN where undefined)."""
    tp = int((pred & truth).sum())
    return {"test_rows": int(len(truth)), "positives": int(truth.sum()), "predicted": int(pred.sum()),
            "precision": tp / pred.sum() if pred.sum() else np.nan,
            "recall": tp / truth.sum() if truth.sum() else np.nan,
            "base_rate": float(truth.mean()) if len(truth) else np.nan}  # fmt: skip


def write_importance(table: pd.DataFrame, data_path: Path, model_filename: str, **meta) -> Path:
    """`<data_path>/<model_filename>_importance.parquet`, with `meta` as constant columns."""
    data_path.mkdir(parents=True, exist_ok=True)
    path = data_path / f"{model_filename}{IMPORTANCE_SUFFIX}"
    table.assign(**meta).to_parquet(path, index=False)
    return path
