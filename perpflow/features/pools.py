"""Liquidity pools: clusters of equal highs (buy-side liquidity) or equal lows (sell-side).

Stops rest just beyond equal highs and lows. A pool is a cluster of confirmed swing extremes
within a tolerance (default 0.1%, or `tol_atr` x ATR) among the last `lags` swings
(defaults found on the demo market: 6/6-bar fractals and 32 swings recall ~90% of planted pools), no older
than `max_age` bars, with no swing between them trading through the cluster. It exists from
the confirmation of its latest touch and is "taken" by the first candle trading through it.
Reads rows <= t for row t. Vectorised over swing events (a (swings x lags) matrix).

Size estimate: the volume traded on the touch candles (resting order-book depth joins this when
the store has recorded books; see issue 5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.features.swings import _confirmed


def _lagged(values: np.ndarray, lags: int) -> np.ndarray:
    """Matrix M[i, k] = values[i - k] (NaN where i - k < 0)."""
    m = np.full((len(values), lags), np.nan)
    for k in range(min(lags, len(values))):  # a loop over lags (tens), not rows
        m[k:, k] = values[: len(values) - k]
    return m


def _events(df: pd.DataFrame, col: str, *, left: int, right: int, high: bool):
    """Confirmation rows, swing bar rows and levels of the confirmed swings of `col`."""
    values = df[col].to_numpy(dtype="float64")
    conf_rows = np.flatnonzero(_confirmed(values, left=left, right=right, high=high))
    bars = conf_rows - right
    return conf_rows, bars, values[bars]


def _cluster(levels, bars, vol_at, tol, *, lags: int, max_age: int, high: bool):
    """Per swing event: pool level, touches, first touch bar and touch volume."""
    L = _lagged(levels, lags)
    B = _lagged(bars.astype("float64"), lags)
    V = _lagged(vol_at, lags)
    ref = L[:, :1]
    near = np.abs(L - ref) <= tol[:, None] * ref
    # an intermediate swing beyond the cluster means the older touches were already taken
    beyond = (L > ref * (1 + tol[:, None])) if high else (L < ref * (1 - tol[:, None]))
    taken = np.maximum.accumulate(np.nan_to_num(beyond.astype("float64")), axis=1) > 0
    ok = near & ~taken & ((B[:, :1] - B) <= max_age)
    touches = ok.sum(axis=1)
    level = np.where(ok, L, -np.inf if high else np.inf)
    level = level.max(axis=1) if high else level.min(axis=1)
    first = np.where(ok, B, np.inf).min(axis=1)
    volume = np.where(ok, V, 0.0).sum(axis=1)
    return level, touches, first, volume


def pool_warmup(left: int, right: int, max_age: int) -> int:
    """Candles a pool confirmed at t can reach back: its oldest touch lies at most `max_age` bars
    before its latest, whose confirmation is `right` bars later, and the oldest touch's fractal
    reads `left` bars before it."""
    return max_age + left + right + 1


def liquidity_pools(
    df: pd.DataFrame,
    *,
    left: int = 6,
    right: int = 6,
    tol: float = 0.001,
    tol_atr: float | None = None,
    atr: pd.Series | None = None,
    lags: int = 32,
    max_age: int = 864,
    min_touches: int = 2,
    tag_touches: int = 3,
) -> pd.DataFrame:
    """Nearest live buy-side (equal highs) and sell-side (equal lows) pools at each candle.

    Reads `high`, `low`, `volume` (and `atr` when `tol_atr` is set) up to row t. Columns per side
    (`pool_high_*` = buy-side above price, `pool_low_*` = sell-side below): `level`, `touches`,
    `age` (bars since the first touch), `volume` (traded at the touches), and the tags
    `buy_side_pool` / `sell_side_pool` (>= `tag_touches` touches, e.g. three highs within 0.1%).
    A pool disappears (NaN) at the close of the first candle that trades through its level.
    """
    if tol_atr is not None and atr is None:
        raise ValueError("liquidity_pools: tol_atr needs the atr series")
    n = len(df)
    out: dict[str, np.ndarray] = {}
    vol = df["volume"].to_numpy(dtype="float64")
    for side, col, high in (("high", "high", True), ("low", "low", False)):
        conf, bars, levels = _events(df, col, left=left, right=right, high=high)
        if tol_atr is not None:
            tol_ev = tol_atr * atr.to_numpy(dtype="float64")[conf] / levels
        else:
            tol_ev = np.full(len(conf), tol)
        lvl, touches, first, tvol = _cluster(
            levels, bars, vol[bars], tol_ev, lags=lags, max_age=max_age, high=high
        )
        live = touches >= min_touches
        cols = _spread(n, conf[live], lvl[live], touches[live], first[live], tvol[live])
        out.update(_invalidate(df, cols, side=side, high=high))
        out[f"{'buy' if high else 'sell'}_side_pool"] = out[f"pool_{side}_touches"] >= tag_touches
    return pd.DataFrame(out, index=df.index)


def _spread(n, rows, level, touches, first, volume) -> dict[str, np.ndarray]:
    """Put event values on their confirmation rows and carry them forward."""
    frame = {}
    for name, vals in (
        ("level", level),
        ("touches", touches),
        ("first", first),
        ("volume", volume),
    ):
        arr = np.full(n, np.nan)
        arr[rows] = vals
        frame[name] = pd.Series(arr).ffill().to_numpy()
    ids = np.zeros(n, dtype="int64")
    ids[rows] = 1
    frame["id"] = np.cumsum(ids)
    return frame


def _invalidate(df: pd.DataFrame, c: dict, *, side: str, high: bool) -> dict[str, np.ndarray]:
    """NaN out a pool from the first candle that trades through it (the state after its close).

    The confirming candle cannot take its pool: its extreme is at most the latest touch.
    """
    extreme = df["high" if high else "low"].to_numpy(dtype="float64")
    level = c["level"]
    through = (extreme > level) if high else (extreme < level)
    through = pd.Series(through.astype("int64"))
    seen = through.groupby(c["id"]).cumsum().to_numpy()
    live = (seen == 0) & ~np.isnan(level)
    idx = np.arange(len(level), dtype="float64")
    return {
        f"pool_{side}_level": np.where(live, level, np.nan),
        f"pool_{side}_touches": np.where(live, c["touches"], 0).astype("int64"),
        f"pool_{side}_age": np.where(live, idx - c["first"], np.nan),
        f"pool_{side}_volume": np.where(live, c["volume"], np.nan),
    }
