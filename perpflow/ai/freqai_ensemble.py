"""FreqAI model base of EventEnsembleClassifier and TCNEventClassifier (see those files).

Kept in the package because Freqtrade's resolver only takes classes defined in the loaded file.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from freqtrade.freqai.base_models.BaseClassifierModel import BaseClassifierModel
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

from perpflow.ai.ensemble import (
    SIDE_COLUMN,
    fit_ensemble,
    load_ensemble_config,
    split_positions,
)
from perpflow.ai.model import (
    check_training_inputs,
    purge_split,
    test_scores,
    window_importance,
    write_importance,
)
from perpflow.labels.horizons import TRIPLE_BARRIER_HORIZON

logger = logging.getLogger(__name__)

ABLATION = "win_without_tcn"  # the vote with the TCN left out: does the TCN add anything?


class EventEnsembleBase(BaseClassifierModel):
    """The shared implementation; `freqaimodels/` holds the classes FreqAI loads by name."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ensemble = load_ensemble_config(self.freqai_info)
        if "tcn" in self.ensemble.active():
            self.CONV_WIDTH = self.ensemble.tcn.window  # live: FreqAI passes this many candles
        self._frame: pd.DataFrame | None = None

    def train(self, unfiltered_df: pd.DataFrame, pair: str, dk: FreqaiDataKitchen, **kwargs) -> Any:
        check_training_inputs(unfiltered_df, dk.training_features_list, pair)
        self._frame = unfiltered_df.reset_index(drop=True)
        try:
            return super().train(unfiltered_df, pair, dk, **kwargs)
        finally:
            self._frame = None

    def fit(self, data_dictionary: dict, dk: FreqaiDataKitchen, **kwargs) -> Any:
        params = dict(self.model_training_parameters)
        rounds = int(params.pop("early_stopping_rounds", 50))
        purge = TRIPLE_BARRIER_HORIZON * pd.Timedelta(self.config["timeframe"])
        n_train, n_test = (
            len(data_dictionary["train_features"]),
            len(data_dictionary["test_features"]),
        )
        dd = purge_split(data_dictionary, dk.train_dates, purge)
        train_pos, test_pos = split_positions(
            self._frame["date"], dk.train_dates, n_train, n_test, purge
        )
        if len(train_pos) != len(dd["train_features"]):
            raise RuntimeError(f"{dk.pair}: train rows do not line up with the window's candles")
        model = fit_ensemble(dd, self._frame, train_pos, test_pos, dk.training_features_list,
                             self.ensemble, params, rounds)  # fmt: skip
        for col in self._output_columns(model):  # FreqAI keeps a mean/std per numeric output
            dk.data.setdefault("labels_mean", {})[col] = 0
            dk.data.setdefault("labels_std", {})[col] = 0
        self._write_importance(model, dd, dk)
        logger.info("%s: ensemble %s trained in %s; validation Brier raw -> calibrated: %s", dk.pair,
                    list(model.members), {k: round(v, 2) for k, v in model.info.items() if k.endswith("_seconds")},
                    {n: (round(model.info[f"{n}_brier_raw"], 4), round(model.info[f"{n}_brier_calibrated"], 4))
                     for n in model.members})  # fmt: skip
        return model

    @staticmethod
    def _output_columns(model) -> list[str]:
        cols = [f"{kind}_{n}" for n in model.members for kind in ("p", "raw")]
        return cols + ([ABLATION] if "tcn" in model.members and len(model.members) > 1 else [])

    def _write_importance(self, model, dd: dict, dk: FreqaiDataKitchen) -> None:
        """LightGBM's importance file (what `perpflow importance` reads), when it is a member."""
        member = model.members.get("lightgbm")
        if member is None:
            return
        lgbm = member.estimator
        scores = test_scores(lgbm, dd, threshold=float(self.freqai_info.get("win_threshold", 0.5)))
        dates = pd.to_datetime(pd.Series(dk.train_dates))
        name = dk.model_filename or "cb_" + dk.data_path.name.removeprefix("sub-train-").lower()
        write_importance(window_importance(lgbm, dd), dk.data_path, name, pair=dk.pair,
                         train_start=dates.min(), train_end=dates.max(),
                         train_rows=len(dd["train_features"]),
                         best_iteration=int(lgbm.best_iteration_ or lgbm.n_estimators), **scores)  # fmt: skip

    def predict(self, unfiltered_df: pd.DataFrame, dk: FreqaiDataKitchen, **kwargs
                ) -> tuple[pd.DataFrame, np.ndarray]:  # fmt: skip
        """Each member's probability and the vote per row; do_predict 0 where FreqAI's pipeline
        flags the row or the vote has no value."""
        dk.find_features(unfiltered_df)
        filtered, _ = dk.filter_features(
            unfiltered_df, dk.training_features_list, training_filter=False
        )
        x, outliers, _ = dk.feature_pipeline.transform(filtered, outlier_check=True)
        dk.data_dictionary["prediction_features"] = x
        frame = unfiltered_df.reset_index(drop=True)
        raw = self.model.raw_scores(x, frame)
        setup = frame[SIDE_COLUMN].fillna(0).to_numpy() != 0 if SIDE_COLUMN in frame else None
        cal, vote = self.model.vote(raw, setup)
        label = dk.label_list[0]
        pred = {label: np.where(vote >= 0.5, "win", "loss"), "loss": 1 - vote, "win": vote}
        for name in raw:
            pred[f"p_{name}"], pred[f"raw_{name}"] = cal[name], raw[name]
        ablation = self.model.vote_without(raw, "tcn", setup)
        if ablation is not None:
            pred[ABLATION] = ablation
        pred_df = pd.DataFrame(pred)
        dk.DI_values = (dk.feature_pipeline["di"].di_values if dk.feature_pipeline["di"]
                        else np.zeros(len(pred_df)))  # fmt: skip
        dk.do_predict = np.where(np.isfinite(vote), np.asarray(outliers), 0).astype(int)
        return pred_df, dk.do_predict
