"""The batched permutation importance gives scikit-learn's numbers, one predict per chunk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from sklearn.metrics import average_precision_score

from perpflow.ai import permutation as perm
from perpflow.ai.model import EventEnsemble, fit_classifier, fit_second


def _planted(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"%-f{i}": rng.normal(size=n) for i in range(6)})
    X["%-f5"] = X["%-f5"].astype("float32")  # a float32 column keeps its dtype when permuted
    win = (X["%-f2"] + 0.5 * X["%-f0"] + 0.3 * rng.normal(size=n)) > 1.0
    y = pd.DataFrame({"&-outcome": np.where(win, "win", "loss")})
    k = int(n * 0.8)
    return {"train_features": X.iloc[:k], "test_features": X.iloc[k:], "train_labels": y.iloc[:k],
            "test_labels": y.iloc[k:], "train_weights": np.ones(k)}  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_precision_equals_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random(300) < 0.3
    score = np.round(rng.random(300), 1)  # many ties
    assert perm.average_precision(truth, score) == pytest.approx(
        average_precision_score(truth, score), abs=1e-12
    )
    assert perm.average_precision(np.zeros(5, bool), rng.random(5)) == 0.0


@pytest.mark.parametrize("second", [False, True])
def test_batched_importance_equals_scikit_learn(second, monkeypatch):
    dd = _planted(1500, 3)
    model = fit_classifier(dd, {"n_estimators": 60, "random_state": 1})
    if second:
        model = EventEnsemble(model, fit_second("logistic", dd), 0.3)
    X, col = dd["test_features"], list(model.classes_).index("win")
    truth = (dd["test_labels"].iloc[:, 0] == "win").to_numpy()

    def score(est, Xs, ys):
        return average_precision_score(ys, est.predict_proba(Xs)[:, col])

    ref = permutation_importance(model, X, truth, scoring=score, n_repeats=4, random_state=7)
    monkeypatch.setattr(perm, "_CHUNK_CELLS", X.shape[0] * X.shape[1] * 3)  # chunks of 3 copies
    mean, std = perm.permutation_importance_ap(model, X, truth, col, repeats=4, seed=7)
    np.testing.assert_allclose(mean, ref.importances_mean, atol=1e-12)
    np.testing.assert_allclose(std, ref.importances_std, atol=1e-12)
    assert mean.argmax() == 2 and (std > 0).any()
