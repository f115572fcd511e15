"""LightGBMEventClassifier: FreqAI classifier for rare trade setups (LiquiditySweepAI's target).

Built on FreqAI's `BaseClassifierModel` (its training loop, pipeline and sliding windows); the
fitting, purge and importance code lives in `perpflow.ai.model`. Per training window it:
- drops train rows whose label horizon reaches into the in-window test split (purge);
- fits LightGBM with balanced class weights and early stopping on the test split;
- writes `<model>_importance.parquet` next to the model: gain, split, permutation importance on
  the held-out split and mean |SHAP| (LightGBM TreeSHAP), plus the split's precision/recall.

`model_training_parameters` go to `lightgbm.LGBMClassifier`; `early_stopping_rounds` (default
50) is read from there too. `freqai.second_model: {"type": "logistic" | "extra_trees",
"weight": 0.3}` adds a second classifier whose probabilities are averaged in with that weight.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from freqtrade.freqai.base_models.BaseClassifierModel import BaseClassifierModel
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

from perpflow.ai.model import (
    EventEnsemble,
    check_training_inputs,
    fit_classifier,
    fit_second,
    purge_split,
    test_scores,
    window_importance,
    write_importance,
)
from perpflow.labels.horizons import TRIPLE_BARRIER_HORIZON

logger = logging.getLogger(__name__)


class LightGBMEventClassifier(BaseClassifierModel):
    def train(self, unfiltered_df: pd.DataFrame, pair: str, dk: FreqaiDataKitchen, **kwargs) -> Any:
        # FreqAI drops every row with a NaN feature; a feature family with no data in the window
        # (e.g. liquidations never recorded) would drop them all with a generic message
        check_training_inputs(unfiltered_df, dk.training_features_list, pair)
        return super().train(unfiltered_df, pair, dk, **kwargs)

    def fit(self, data_dictionary: dict, dk: FreqaiDataKitchen, **kwargs) -> Any:
        params = dict(self.model_training_parameters)
        rounds = int(params.pop("early_stopping_rounds", 50))
        purge = TRIPLE_BARRIER_HORIZON * pd.Timedelta(self.config["timeframe"])
        dd = purge_split(data_dictionary, dk.train_dates, purge)
        if len(dd["train_features"]) < len(data_dictionary["train_features"]):
            logger.info(
                "%s: purged %d train rows within %s of the test split",
                dk.pair,
                len(data_dictionary["train_features"]) - len(dd["train_features"]),
                purge,
            )
        model = fit_classifier(dd, params, early_stopping_rounds=rounds)
        second = self.freqai_info.get("second_model")
        if second:  # a second classifier voting inside the model (perpflow.ai.model.EventEnsemble)
            model = EventEnsemble(
                model, fit_second(second["type"], dd), float(second.get("weight", 0.5))
            )
        scores = test_scores(model, dd, threshold=float(self.freqai_info.get("win_threshold", 0.5)))
        dates = pd.to_datetime(pd.Series(dk.train_dates))
        lgbm = model.primary if isinstance(model, EventEnsemble) else model
        # live, FreqAI names the model after training; its folder already carries the stamp
        name = dk.model_filename or "cb_" + dk.data_path.name.removeprefix("sub-train-").lower()
        path = write_importance(
            window_importance(model, dd), dk.data_path, name, pair=dk.pair,
            train_start=dates.min(), train_end=dates.max(), train_rows=len(dd["train_features"]),
            best_iteration=int(lgbm.best_iteration_ or lgbm.n_estimators), **scores,
        )  # fmt: skip
        logger.info(
            "%s: test precision %.2f recall %.2f (base rate %.2f, %d rows); importance -> %s",
            dk.pair,
            scores["precision"],
            scores["recall"],
            scores["base_rate"],
            scores["test_rows"],
            path.name,
        )
        return model
