"""Forward outcomes of events: what price did after an event candle's close (reads rows > t).

For an event at row t (known at its close) and a horizon of h candles: the return from close[t]
to close[t + h], in ATR (ATR of row t) and in bps; the maximum favourable and adverse
excursions over rows t+1..t+h (highs and lows, in ATR); and continuation (the return signed by
the event's direction is > 0) vs reversal. Directional events are signed by `dir` (+1: the move
that made the event was up): a positive signed return is a continuation of that move. Events
without a direction (`dir` 0) are read as a long. `net_bps` is the signed return less a taker
fee on entry and on exit (a flat subtraction of 2 x fee, in bps). Outcomes whose horizon runs
past the data end are NaN.

Written with NumPy and pandas: rolling extremes of the reversed highs and lows give the
excursions of every row at once (no per-event loop); no library has these forward labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_TAKER_FEE = 0.0005  # 0.05% per side, Binance USDT-M's base taker fee
HORIZONS: dict[str, pd.Timedelta] = {
    "15m": pd.Timedelta(minutes=15),
    "1h": pd.Timedelta(hours=1),
    "4h": pd.Timedelta(hours=4),
    "1d": pd.Timedelta(days=1),
}
OUTCOMES = ("ret_atr", "ret_bps", "net_bps", "mfe_atr", "mae_atr", "cont")


def horizon_candles(
    timeframe: str, horizons: dict[str, pd.Timedelta] | None = None
) -> dict[str, int]:
    """Horizon name -> candles of `timeframe` (a horizon shorter than one candle is an error)."""
    tf = pd.Timedelta(timeframe)
    out = {}
    for name, span in (horizons or HORIZONS).items():
        k = int(span // tf)
        if k < 1:
            raise ValueError(f"horizon {name} ({span}) is shorter than one {timeframe} candle")
        out[name] = k
    return out


def _forward_extreme(x: np.ndarray, rows: np.ndarray, k: int, *, high: bool) -> np.ndarray:
    """max (high) or min (low) of x[t+1..t+k] per row t in `rows`; NaN where t+k is past the end.

    A trailing rolling extreme over the reversed series is the forward one: O(n) for all rows
    (a `sliding_window_view` reduction costs n x k)."""
    n = len(x)
    rev = pd.Series(x[::-1])
    roll = rev.rolling(k, min_periods=k)
    ahead = (roll.max() if high else roll.min()).to_numpy()[::-1]  # ahead[i] = ext(x[i..i+k-1])
    ok = rows + k < n
    out = np.full(len(rows), np.nan)
    out[ok] = ahead[rows[ok] + 1]
    return out


def forward_outcomes(
    df: pd.DataFrame,
    atr: pd.Series | np.ndarray,
    *,
    timeframe: str = "5m",
    rows: np.ndarray | None = None,
    direction: np.ndarray | None = None,
    fee: float = DEFAULT_TAKER_FEE,
    horizons: dict[str, pd.Timedelta] | None = None,
) -> pd.DataFrame:
    """Forward outcomes of the candles `rows` (positions in `df`; default every row).

    Reads `close`, `high`, `low` of rows t..t+h and `atr` of row t. `direction` (+1/-1/0 per
    row of `rows`, default 0 = read as a long) signs the returns and orients the excursions.
    Returns one row per element of `rows` with columns `<outcome>_<horizon>` for the
    `OUTCOMES` (`cont` is 1.0 continuation, 0.0 reversal or flat, NaN unknown) and horizons.
    """
    close = df["close"].to_numpy(dtype="float64")
    high = df["high"].to_numpy(dtype="float64")
    low = df["low"].to_numpy(dtype="float64")
    a = np.asarray(atr, dtype="float64")
    rows = np.arange(len(df)) if rows is None else np.asarray(rows, dtype="int64")
    sign = np.ones(len(rows)) if direction is None else np.asarray(direction, dtype="float64")
    sign = np.where(sign < 0, -1.0, 1.0)
    c0 = close[rows]
    a0 = a[rows]
    a0 = np.where(a0 > 0, a0, np.nan)
    fee_bps = 2.0 * fee * 1e4
    out: dict[str, np.ndarray] = {}
    for name, k in horizon_candles(timeframe, horizons).items():
        ahead = rows + k
        ok = ahead < len(close)
        c1 = np.where(ok, close[np.minimum(ahead, len(close) - 1)], np.nan)
        move = sign * (c1 - c0)
        up = _forward_extreme(high, rows, k, high=True) - c0
        down = c0 - _forward_extreme(low, rows, k, high=False)
        out[f"ret_atr_{name}"] = move / a0
        out[f"ret_bps_{name}"] = move / c0 * 1e4
        out[f"net_bps_{name}"] = out[f"ret_bps_{name}"] - fee_bps
        out[f"mfe_atr_{name}"] = np.where(sign > 0, up, down) / a0
        out[f"mae_atr_{name}"] = np.where(sign > 0, down, up) / a0
        out[f"cont_{name}"] = np.where(np.isnan(move), np.nan, (move > 0).astype("float64"))
    return pd.DataFrame(out, index=df.index[rows])


def forward_path_bps(close: np.ndarray, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Unsigned return in bps from close[t] to close[t + o] for each row t and offset o
    (matrix rows x offsets; NaN past the data end). The fan charts' mean paths."""
    close = np.asarray(close, dtype="float64")
    rows = np.asarray(rows, dtype="int64")
    ahead = rows[:, None] + np.asarray(offsets, dtype="int64")[None, :]
    ok = ahead < len(close)
    c1 = np.where(ok, close[np.minimum(ahead, len(close) - 1)], np.nan)
    return (c1 / close[rows][:, None] - 1.0) * 1e4
