"""LiquiditySweepAI's target: the triple-barrier outcome of each setup (reads the future; this
module and `perpflow.labels` are the only places that may).

FreqAI computes targets on data cut at each training window's end, so a label never sees the
test window: the purge between training and backtest windows is built into FreqAI's loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.labels.barriers import triple_barrier
from perpflow.labels.horizons import TRIPLE_BARRIER_HORIZON

TARGET_COLUMN = "&-outcome"
CLASSES = ("win", "loss")


def event_outcome(frame: pd.DataFrame, side: pd.Series, cfg: PerpflowConfig,
                  horizon: int = TRIPLE_BARRIER_HORIZON) -> pd.Series:  # fmt: skip
    """ "win" where the setup's take barrier (`ai.take_atr` ATR) is touched before its stop
    (`ai.stop_atr` ATR) within `horizon` candles, "loss" for the stop or the time barrier, NaN
    on non-setup rows and where the data ends before the outcome is known."""
    s = side.fillna(0)
    tb = triple_barrier(frame, frame["atr"], s != 0, long=s > 0, take_atr=cfg.ai.take_atr,
                        stop_atr=cfg.ai.stop_atr, horizon=horizon)["tb_label"]  # fmt: skip
    label = np.where(tb == 1, "win", "loss")
    return pd.Series(label, index=frame.index, dtype="object").where(tb.notna())
