"""Probability calibration and proper scores for the event models.

Every member of the event ensemble (rules, LightGBM, TCN) is calibrated on its training window's
in-window validation split only (the rows FreqAI holds out at the end of the window), never on
the backtest window it then predicts:
- "platt": a logistic regression on the logit of the raw score (two parameters; stable on the
  few hundred setups a window holds; the default);
- "isotonic": scikit-learn's isotonic regression (monotone step function; needs more rows);
- "none": the raw score.
Scores here are scikit-learn's (`brier_score_loss`, `log_loss`); the reliability table bins
predictions the way `sklearn.calibration.calibration_curve` does, with counts kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

METHODS = ("platt", "isotonic", "none")
MIN_ROWS = 20  # fewer validation rows (or one class only): keep the raw score, say so
EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """A fitted map from raw score to probability; `method` says which one was used ("none"
    when the validation split was too small or one-class, `reason` says why)."""

    method: str
    model: object | None = None
    reason: str = ""

    def transform(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores `p` (NaN stays NaN)."""
        p = np.asarray(p, dtype="float64")
        out = np.full(p.shape, np.nan)
        ok = np.isfinite(p)
        if self.method == "none" or self.model is None:
            out[ok] = p[ok]
        elif self.method == "platt":
            out[ok] = self.model.predict_proba(_logit(p[ok]).reshape(-1, 1))[:, 1]
        else:
            out[ok] = self.model.predict(p[ok])
        return out


def fit_calibrator(p: np.ndarray, y: np.ndarray, method: str = "platt") -> Calibrator:
    """Fit `method` on raw scores `p` against boolean outcomes `y` (the validation split)."""
    if method not in METHODS:
        raise ValueError(f"freqai.ensemble.calibration: one of {METHODS}, got {method!r}")
    p, y = np.asarray(p, dtype="float64"), np.asarray(y, dtype=bool)
    ok = np.isfinite(p)
    p, y = p[ok], y[ok]
    if method == "none":
        return Calibrator("none")
    if len(p) < MIN_ROWS or y.all() or not y.any():
        why = f"{len(p)} validation rows, {int(y.sum())} wins: raw score kept"
        logger.info("calibration %s skipped: %s", method, why)
        return Calibrator("none", reason=why)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1e4).fit(_logit(p).reshape(-1, 1), y)
    else:
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(p, y)
    return Calibrator(method, model)


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Brier score (mean squared error of the probability; lower is better); NaN when empty."""
    from sklearn.metrics import brier_score_loss

    p, y = _finite(p, y)
    return float(brier_score_loss(y, p)) if len(p) else float("nan")


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Binary log loss with p clipped to [1e-6, 1 - 1e-6]; NaN when empty."""
    from sklearn.metrics import log_loss as sk_log_loss

    p, y = _finite(p, y)
    if not len(p):
        return float("nan")
    return float(sk_log_loss(y, np.clip(p, EPS, 1 - EPS), labels=[False, True]))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """One row per non-empty probability bin: bin edges, rows, mean predicted, observed rate."""
    p, y = _finite(p, y)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    df = pd.DataFrame({"bin": idx, "p": p, "y": y.astype(float)})
    g = df.groupby("bin").agg(rows=("p", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    g["lo"], g["hi"] = edges[g.index], edges[g.index + 1]
    return g.reset_index(drop=True)[["lo", "hi", "rows", "predicted", "observed"]]


def _finite(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(p, dtype="float64"), np.asarray(y, dtype=bool)
    ok = np.isfinite(p)
    return p[ok], y[ok]
