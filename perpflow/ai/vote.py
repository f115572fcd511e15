"""The ensemble vote of LiquiditySweepAI: the model's win probability and the rules' conviction
for the setup's side, weighted (`perpflow.ai.weights`), against `perpflow.ai.threshold`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig


def ensemble_vote(p_win: pd.Series, do_predict: pd.Series, side: pd.Series,
                  frame: pd.DataFrame, cfg: PerpflowConfig) -> pd.Series:  # fmt: skip
    """Weighted vote in [0, 1] per row: NaN where there is no setup, or where the model has a
    weight but no trustworthy prediction (FreqAI's `do_predict` != 1: NaN inputs or outliers),
    so such rows never enter (fail closed)."""
    w = cfg.ai.weights
    rules = pd.Series(np.where(side > 0, frame["conviction_long"], frame["conviction_short"]),
                      index=frame.index)  # fmt: skip
    model = p_win.where(do_predict == 1) if w.model > 0 else pd.Series(0.0, index=frame.index)
    vote = (w.model * model + w.rules * rules) / (w.model + w.rules)
    return vote.where(side != 0)
