"""Causal input windows for the sequence model: the last W candles' features ending at a candle.

Reads a feature matrix in time order and the positions of the candles to predict; returns one
(W, F) window per position made only of rows <= that position (NumPy's `sliding_window_view`,
no copy until the windows asked for are gathered). Positions with fewer than W rows of history
are reported invalid rather than padded, so a prediction never rests on made-up history.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

CLIP = 5.0  # scaled inputs are clipped to +-5 robust standard deviations


@dataclass
class RobustScaler:
    """Median / IQR scaling fitted on training rows only; NaN becomes 0 (the median) after
    scaling, so a missing value reads as "typical", and every input is clipped to +-CLIP."""

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> RobustScaler:
        """Per column median and IQR/1.349 of `values` (rows x features), ignoring NaN."""
        v = np.asarray(values, dtype="float64")
        if not len(v):
            return cls(np.zeros(v.shape[1], "float32"), np.ones(v.shape[1], "float32"))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: scale 1
            q25, med, q75 = np.nanquantile(v, [0.25, 0.5, 0.75], axis=0)
            std = np.nanstd(v, axis=0)
        iqr = (q75 - q25) / 1.349
        scale = np.where(iqr > 1e-12, iqr, np.where(std > 1e-12, std, 1.0))
        return cls(
            np.nan_to_num(med).astype("float32"), np.nan_to_num(scale, nan=1.0).astype("float32")
        )

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of `values`."""
        z = (np.asarray(values, dtype="float32") - self.center) / self.scale
        return np.clip(np.nan_to_num(z, nan=0.0, posinf=CLIP, neginf=-CLIP), -CLIP, CLIP)


def windows(values: np.ndarray, ends: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(windows, valid): `windows[i]` is `values[ends[i] - width + 1 : ends[i] + 1]` (shape
    (n, width, F), float32) for valid ends; invalid ends (less than `width` rows of history, or
    past the data) get zeros and `valid[i] = False`."""
    v = np.ascontiguousarray(values, dtype="float32")
    ends = np.asarray(ends, dtype="int64")
    n_rows, n_feat = v.shape
    valid = (ends >= width - 1) & (ends < n_rows)
    out = np.zeros((len(ends), width, n_feat), dtype="float32")
    if valid.any() and n_rows >= width:
        view = np.lib.stride_tricks.sliding_window_view(v, width, axis=0)  # (rows-w+1, F, w)
        out[valid] = view[ends[valid] - width + 1].transpose(0, 2, 1)
    return out, valid


def side_channel(frame: pd.DataFrame, side_column: str) -> np.ndarray:
    """The setup side of each row (+1, -1, 0) as a float32 column (0 where absent)."""
    if side_column not in frame:
        return np.zeros((len(frame), 1), dtype="float32")
    return frame[side_column].fillna(0).to_numpy("float32").reshape(-1, 1)
