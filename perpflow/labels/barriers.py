"""First-touch barrier labels, vectorised over events (rows x horizon gathers, no per-row loop).

Written by hand: the maintained libraries that did this (mlfinlab) are closed or abandoned, and
the kernel is a few lines of NumPy. When both barriers fall inside the same candle the order is
unknown; the label takes the adverse one (the conservative reading of an OHLC bar).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def first_touch(high: np.ndarray, low: np.ndarray, events: np.ndarray, upper: np.ndarray,
                lower: np.ndarray, horizon: int, *, long: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """For each event row i: +1 if `upper[i]` is touched first in rows i+1..i+horizon, -1 if
    `lower[i]` is, 0 if neither (or the data ends first), and the offset of the touch (0 if none).
    Same-candle double touches resolve against the position (`long` True -> -1, else +1)."""
    n = len(high)
    offs = np.arange(1, horizon + 1)
    idx = events[:, None] + offs[None, :]
    valid = idx < n
    idx = np.minimum(idx, n - 1)
    hit_up = (high[idx] >= upper[:, None]) & valid
    hit_dn = (low[idx] <= lower[:, None]) & valid
    first_up = np.where(hit_up.any(1), hit_up.argmax(1), horizon)
    first_dn = np.where(hit_dn.any(1), hit_dn.argmax(1), horizon)
    label = np.where(first_up < first_dn, 1, np.where(first_dn < first_up, -1, 0))
    tie = (first_up == first_dn) & (first_up < horizon)
    label = np.where(tie, np.where(long, -1, 1), label)
    at = np.minimum(first_up, first_dn)
    return label.astype("int8"), np.where(at < horizon, at + 1, 0)


def triple_barrier(df: pd.DataFrame, atr: pd.Series, events: pd.Series, *, long: pd.Series,
                   take_atr: float = 2.0, stop_atr: float = 1.0, horizon: int = 48) -> pd.DataFrame:  # fmt: skip
    """Triple-barrier label per event row (entry at its close): `tb_label` 1 = the take-profit
    barrier (take_atr ATR in the trade's direction) first, -1 = the stop barrier first, 0 = the
    time barrier; `tb_bars` until the touch; `tb_return` signed return at the touch/timeout."""
    ev = np.flatnonzero(events.fillna(False).to_numpy())
    close, a = df["close"].to_numpy(), atr.to_numpy()
    is_long = long.to_numpy()[ev]
    sign = np.where(is_long, 1.0, -1.0)
    target = close[ev] + sign * take_atr * a[ev]
    stop = close[ev] - sign * stop_atr * a[ev]
    upper, lower = np.where(is_long, target, stop), np.where(is_long, stop, target)
    hit, bars = first_touch(df["high"].to_numpy(), df["low"].to_numpy(), ev, upper, lower,
                            horizon, long=is_long)  # fmt: skip
    label = np.where(is_long, hit, -hit).astype("int8")  # +1 = target side for both directions
    end = np.minimum(ev + np.where(bars > 0, bars, horizon), len(close) - 1)
    exit_px = np.where(label == 1, target, np.where(label == -1, stop, close[end]))
    out = pd.DataFrame(
        index=df.index, columns=["tb_label", "tb_bars", "tb_return"], dtype="float64"
    )
    out.iloc[ev, 0] = label
    out.iloc[ev, 1] = bars
    out.iloc[ev, 2] = sign * (exit_px / close[ev] - 1)
    # an event whose horizon runs past the data end and touched nothing is unknown, not "timeout"
    unknown = (ev + horizon >= len(close)) & (label == 0)
    out.iloc[ev[unknown], :] = np.nan
    return out
