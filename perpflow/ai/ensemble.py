"""The event ensemble behind `freqaimodels/EventEnsembleClassifier.py`: rules, LightGBM and a
TCN, each calibrated on the window's validation split, voting with configured weights.

Members (`freqai.ensemble.weights`; weight 0 switches a member off, it is then not trained):
- `rules`: the rules' conviction for the setup's side (`%-conviction_long/short`), calibrated;
- `lightgbm`: LightGBM on the setup row's features (`perpflow.ai.model.fit_classifier`);
- `tcn`: the TCN (`perpflow.ai.tcn`) on the last `tcn.window` candles' features ending at the
  setup candle, plus the setup's side as a channel.
The vote is the weighted mean of the calibrated probabilities; a row where a weighted member
has no probability (e.g. fewer than `tcn.window` candles of history) gets no vote (NaN).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from perpflow.ai.calibration import Calibrator, fit_calibrator
from perpflow.ai.sequences import RobustScaler, side_channel, windows
from perpflow.ai.tcn import TCNSettings, fit_tcn
from perpflow.config_base import _Frozen

logger = logging.getLogger(__name__)

MEMBERS = ("rules", "lightgbm", "tcn")
SIDE_COLUMN = "%%-event_side"
CONVICTION = ("%-conviction_long", "%-conviction_short")


class TCNConfig(_Frozen):
    """`freqai.ensemble.tcn`: the sequence model's shape and training."""

    window: int = Field(32, ge=4, le=512, description="candles of history per input")
    channels: int = Field(8, ge=2, le=256)
    kernel: int = Field(3, ge=2, le=8)
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    learning_rate: float = Field(3e-3, gt=0, le=1)
    weight_decay: float = Field(1e-3, ge=0, le=1)
    batch_size: int = Field(64, ge=8, le=8192)
    max_epochs: int = Field(40, ge=1, le=1000)
    patience: int = Field(6, ge=1, le=1000)
    seed: int = 1

    def settings(self) -> TCNSettings:
        return TCNSettings(**self.model_dump())


class MemberWeights(_Frozen):
    """`freqai.ensemble.weights`: each member's vote (0 = off, not trained)."""

    rules: float = Field(0.0, ge=0, le=100)
    lightgbm: float = Field(0.5, ge=0, le=100)
    tcn: float = Field(0.5, ge=0, le=100)


class EnsembleConfig(_Frozen):
    """`freqai.ensemble`: members, their weights, calibration and the TCN."""

    weights: MemberWeights = MemberWeights()
    calibration: Literal["platt", "isotonic", "none"] = "platt"
    tcn: TCNConfig = TCNConfig()

    @model_validator(mode="after")
    def _some_member(self) -> EnsembleConfig:
        if not any(getattr(self.weights, m) > 0 for m in MEMBERS):
            raise ValueError("freqai.ensemble.weights: at least one member needs a positive weight")
        return self

    def active(self) -> list[str]:
        return [m for m in MEMBERS if getattr(self.weights, m) > 0]


def load_ensemble_config(freqai: dict) -> EnsembleConfig:
    """`freqai.ensemble` validated; a `PerpflowConfigError` names each bad key in full
    (e.g. `freqai.ensemble.tcn.window: Input should be greater than or equal to 4 (got 1)`)."""
    from pydantic import ValidationError

    from perpflow.config import PerpflowConfigError

    try:
        return EnsembleConfig.model_validate(freqai.get("ensemble", {}), strict=False)
    except ValidationError as exc:
        lines = [f"{'.'.join(['freqai.ensemble', *map(str, e['loc'])])}: {e['msg']} (got {e.get('input')!r})"
                 for e in exc.errors()]  # fmt: skip
        raise PerpflowConfigError(
            "invalid freqai.ensemble config:\n  " + "\n  ".join(lines)
        ) from None


@dataclass
class Member:
    name: str
    weight: float
    calibrator: Calibrator
    estimator: object = None  # LGBMClassifier or TCNModel; None for rules


@dataclass
class EventEnsembleModel:
    """What FreqAI saves per window: the fitted members and the TCN's input scaling."""

    members: dict[str, Member]
    features: list[str]
    scaler: RobustScaler | None = None
    window: int = 1
    classes_: np.ndarray = field(default_factory=lambda: np.array(["loss", "win"]))
    info: dict = field(default_factory=dict)

    def raw_scores(self, x_row: pd.DataFrame, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each member's raw P(win) per row: `x_row` are FreqAI's transformed feature rows and
        `frame` the raw rows in the same order (the TCN reads its windows from it)."""
        out = {}
        for name, m in self.members.items():
            if name == "rules":
                out[name] = rules_score(frame)
            elif name == "lightgbm":
                win = list(m.estimator.classes_).index("win")
                out[name] = m.estimator.predict_proba(x_row)[:, win]
            else:
                x, valid = tcn_inputs(frame, self.features, self.scaler, self.window,
                                      np.arange(len(frame)))  # fmt: skip
                p = np.full(len(frame), np.nan)
                if valid.any():
                    p[valid] = m.estimator.predict_proba(x[valid])
                out[name] = p
        return out

    def vote_without(self, raw: dict[str, np.ndarray], member: str,
                     setup: np.ndarray | None = None) -> np.ndarray | None:  # fmt: skip
        """The vote with `member` left out (the ablation `perpflow validate freqai` pairs with
        the full vote to say whether the member adds anything); None when nothing is left."""
        rest = {n: p for n, p in raw.items() if n != member}
        if member not in raw or not rest:
            return None
        return self.vote(rest, setup)[1]

    def vote(self, raw: dict[str, np.ndarray], setup: np.ndarray | None = None
             ) -> tuple[dict[str, np.ndarray], np.ndarray]:  # fmt: skip
        """(calibrated probability per member, weighted vote). On setup rows every member must
        have a probability, else the vote is NaN (no entry); elsewhere (no setup: the rules have
        no side to score) the members that have one vote, renormalised."""
        cal = {n: self.members[n].calibrator.transform(p) for n, p in raw.items()}
        w = {n: self.members[n].weight for n in cal}
        num = sum(np.where(np.isfinite(cal[n]), w[n] * cal[n], 0.0) for n in cal)
        den = sum(np.where(np.isfinite(cal[n]), w[n], 0.0) for n in cal)
        with np.errstate(invalid="ignore", divide="ignore"):
            vote = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        if setup is not None:
            missing = np.logical_or.reduce([~np.isfinite(cal[n]) for n in cal])
            vote = np.where(np.asarray(setup, bool) & missing, np.nan, vote)
        return cal, vote


def rules_score(frame: pd.DataFrame) -> np.ndarray:
    """The rules' conviction (0..1) for each row's setup side; NaN on rows without a setup."""
    side = frame[SIDE_COLUMN].fillna(0).to_numpy() if SIDE_COLUMN in frame else np.zeros(len(frame))
    long, short = (frame[c].to_numpy("float64") for c in CONVICTION)
    return np.where(side > 0, long, np.where(side < 0, short, np.nan))


def tcn_inputs(frame: pd.DataFrame, features: list[str], scaler: RobustScaler, width: int,
               ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(windows, valid) for the TCN: scaled features plus the setup side at each window's end
    broadcast over the window, for rows `ends` (positions in `frame`). Windows are gathered
    from the raw values first and scaled after (the same numbers; setups are sparse, so this
    scales a few thousand rows instead of the whole frame)."""
    x, valid = windows(frame[features].to_numpy("float32"), ends, width)
    x = scaler.transform(x)
    x[~valid] = 0.0
    side = side_channel(frame, SIDE_COLUMN)
    past, _ = windows(side, ends, width)
    side_now = side[np.clip(ends, 0, len(frame) - 1), 0]
    now = np.broadcast_to(side_now[:, None, None], (*x.shape[:2], 1))
    return np.concatenate([x, past, now], axis=2), valid


def split_positions(dates: pd.Series, train_dates: pd.Series, n_train: int, n_test: int,
                    purge: pd.Timedelta) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Positions in the window frame (`dates`) of FreqAI's train rows (purged like
    `perpflow.ai.model.purge_split`) and test rows, from `dk.train_dates` in split order."""
    td = pd.to_datetime(pd.Series(train_dates)).reset_index(drop=True)
    pos = np.searchsorted(pd.to_datetime(dates).to_numpy(), td.to_numpy())
    train, test = pos[:n_train], pos[n_train : n_train + n_test]
    if n_test:
        train = train[(td.iloc[:n_train] < td.iloc[n_train] - purge).to_numpy()]
    return train, test


def fit_ensemble(dd: dict, frame: pd.DataFrame, train_pos: np.ndarray, test_pos: np.ndarray,
                 features: list[str], cfg: EnsembleConfig, lgbm_params: dict,
                 early_stopping_rounds: int = 50) -> EventEnsembleModel:  # fmt: skip
    """Fit the active members on FreqAI's (purged) split `dd` and calibrate each on its test
    split. `frame` is the window's unfiltered frame; `train_pos`/`test_pos` locate dd's rows
    in it (`split_positions`), so the TCN reads each setup's history from the raw candles."""
    import time

    from perpflow.ai.model import fit_classifier

    y_tr = (dd["train_labels"].iloc[:, 0] == "win").to_numpy()
    y_te = (dd["test_labels"].iloc[:, 0] == "win").to_numpy()
    model = EventEnsembleModel({}, list(features), window=cfg.tcn.window)
    raw_test: dict[str, np.ndarray] = {}
    for name in cfg.active():
        t0, est = time.perf_counter(), None
        if name == "rules":
            raw_test[name] = rules_score(frame.iloc[test_pos])
        elif name == "lightgbm":
            est = fit_classifier(dd, lgbm_params, early_stopping_rounds=early_stopping_rounds)
            win = list(est.classes_).index("win")
            raw_test[name] = (
                est.predict_proba(dd["test_features"])[:, win] if len(test_pos) else np.array([])
            )
        else:
            last_train = int(train_pos.max()) if len(train_pos) else len(frame) - 1
            model.scaler = RobustScaler.fit(
                frame[features].iloc[: last_train + 1].to_numpy("float64")
            )
            x_tr, ok_tr = tcn_inputs(frame, features, model.scaler, cfg.tcn.window, train_pos)
            x_te, ok_te = tcn_inputs(frame, features, model.scaler, cfg.tcn.window, test_pos)
            est = fit_tcn(x_tr[ok_tr], y_tr[ok_tr], x_te[ok_te], y_te[ok_te], cfg.tcn.settings())
            raw = np.full(len(test_pos), np.nan)
            if ok_te.any():
                raw[ok_te] = est.predict_proba(x_te[ok_te])
            raw_test[name] = raw
        cal = fit_calibrator(raw_test[name], y_te, cfg.calibration)
        model.members[name] = Member(name, float(getattr(cfg.weights, name)), cal, est)
        model.info[f"{name}_seconds"] = time.perf_counter() - t0
    model.info.update(validation_scores(model, raw_test, y_te))
    return model


def validation_scores(model: EventEnsembleModel, raw: dict[str, np.ndarray],
                      y: np.ndarray) -> dict:  # fmt: skip
    """Brier score of each member on the validation split, raw and calibrated (in-sample for
    the calibrator: a sanity figure, the honest one is the next window's)."""
    from perpflow.ai.calibration import brier

    out = {"validation_rows": int(len(y)), "validation_wins": int(y.sum())}
    for name, p in raw.items():
        out[f"{name}_brier_raw"] = brier(p, y)
        out[f"{name}_brier_calibrated"] = brier(model.members[name].calibrator.transform(p), y)
    return out
