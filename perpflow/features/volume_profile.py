"""Volume profile: where volume traded by price, over a rolling window or a session so far.

Rolling profile: every `step` candles, the last `window` candles' volume is binned by typical
price into `bins` equal bins between the window's low and high, giving the point of control
(POC, busiest bin), the value area (70% of volume around the busiest bins: VAH/VAL) and high-
and low-volume nodes (bins >= `hvn` x / <= `lvn` x the mean bin). The profile computed at row e
(from rows e-window+1..e) is used for rows e..e+step-1, so every value reads rows <= t. The rows
e sit on a grid fixed in time (candle number since the epoch), not counted from the frame's
first row: a live frame that slides by a candle, or a backtest with another start-up length,
computes the same profiles.
Written by hand (no library computes causal rolling profiles): the histograms in a numba pass
(`_profile_kernel`), the levels from them with NumPy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PROFILE_STEP = 12  # candles between two rolling profiles


def profile_warmup(window: int, step: int = PROFILE_STEP) -> int:
    """Candles `rolling_profile` reads at t: the `window` of the profile in force, which was
    computed up to `step` - 1 candles before t."""
    return window + step - 1


def profile_ends(df: pd.DataFrame, window: int, step: int, timeframe: str | None = None):
    """Rows where a rolling profile is computed: from row `window` - 1 on, the candles whose
    number since the epoch is step - 1 modulo `step` (`timeframe` default: the smallest gap
    between `date`s). Without a `date` column, every `step`-th row from `window` - 1."""
    n = len(df)
    if "date" not in df.columns or n < 2:
        return np.arange(window - 1, n, step)
    ns = pd.DatetimeIndex(pd.to_datetime(df["date"], utc=True)).as_unit("ns").asi8
    tf = pd.Timedelta(timeframe).value if timeframe else int(np.diff(ns)[np.diff(ns) > 0].min())
    rows = np.flatnonzero((ns // tf) % step == step - 1)
    return rows[rows >= window - 1]


def _histograms(price, volume, low, high, ends, starts, window: int, bins: int):
    """Volume histograms of rows starts[i]..ends[i] (at most `window` rows each).

    Returns (hist (len(ends), bins), lo, hi): bins span each window's low..high. One numba pass
    per window (`_profile_kernel`, see why there); memory is the output only.
    """
    from perpflow.features._profile_kernel import histograms

    hist = np.empty((len(ends), bins))
    lo_all, hi_all = np.empty(len(ends)), np.empty(len(ends))
    f64 = [np.ascontiguousarray(x, dtype=np.float64) for x in (price, volume, low, high)]
    i64 = [np.ascontiguousarray(x, dtype=np.int64) for x in (ends, starts)]
    histograms(*f64, *i64, int(window), int(bins), hist, lo_all, hi_all)
    return hist, lo_all, hi_all


def _value_area(hist: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest bin index of the smallest set of busiest bins holding `share`."""
    order = np.argsort(-hist, axis=1, kind="stable")
    sorted_v = np.take_along_axis(hist, order, axis=1)
    total = sorted_v.sum(axis=1, keepdims=True)
    inside = (np.cumsum(sorted_v, axis=1) - sorted_v) < share * total
    idx = np.where(inside, order, -1)
    hi_bin = idx.max(axis=1)
    lo_bin = np.where(inside, order, hist.shape[1]).min(axis=1)
    return lo_bin, hi_bin


def rolling_profile(
    df: pd.DataFrame,
    atr: pd.Series,
    *,
    window: int = 288,
    step: int = PROFILE_STEP,
    bins: int = 24,
    value_area: float = 0.7,
    hvn: float = 1.5,
    lvn: float = 0.5,
    timeframe: str | None = None,
) -> pd.DataFrame:
    """Rolling POC, VAH, VAL and the distance (in ATR) from close to the nearest HVN and LVN.

    Reads `high`, `low`, `close`, `volume`, `date` and `atr` up to row t. NaN until the first
    profile (at most `profile_warmup(window, step)` rows); profiles on `profile_ends`' grid.
    """
    n = len(df)
    cols = ("vp_poc", "vp_vah", "vp_val", "vp_hvn_dist_atr", "vp_lvn_dist_atr")
    if n < window:
        return pd.DataFrame({c: np.full(n, np.nan) for c in cols}, index=df.index)
    high = df["high"].to_numpy(dtype="float64")
    low = df["low"].to_numpy(dtype="float64")
    close = df["close"].to_numpy(dtype="float64")
    price = (high + low + close) / 3.0
    volume = df["volume"].to_numpy(dtype="float64")
    ends = profile_ends(df, window, step, timeframe)
    if len(ends) == 0:
        return pd.DataFrame({c: np.full(n, np.nan) for c in cols}, index=df.index)
    levels = _levels(price, volume, low, high, ends, ends - window + 1, window, bins, value_area)
    poc, vah, val, centers, hist = levels
    mean = hist.mean(axis=1, keepdims=True)
    hvn_c = np.where(hist >= hvn * mean, centers, np.inf)  # inf: not a node
    lvn_c = np.where(hist <= lvn * mean, centers, np.inf)
    which = np.searchsorted(ends, np.arange(n), side="right") - 1  # profile in force per row
    valid = which >= 0
    w = np.where(valid, which, 0)
    out = {"vp_poc": poc[w], "vp_vah": vah[w], "vp_val": val[w]}
    a = atr.to_numpy(dtype="float64")
    out["vp_hvn_dist_atr"] = _nearest(hvn_c, w, close) / np.where(a > 0, a, np.nan)
    out["vp_lvn_dist_atr"] = _nearest(lvn_c, w, close) / np.where(a > 0, a, np.nan)
    for c in cols:
        out[c] = np.where(valid, out[c], np.nan)
    return pd.DataFrame(out, index=df.index)


def _levels(price, volume, low, high, ends, starts, window, bins, value_area):
    """POC, VAH, VAL, bin centers and histograms of the windows starts..ends."""
    hist, lo, hi = _histograms(price, volume, low, high, ends, starts, window, bins)
    width = (hi - lo) / bins
    centers = lo[:, None] + (np.arange(bins) + 0.5) * width[:, None]
    poc = centers[np.arange(len(ends)), hist.argmax(axis=1)]
    va_lo, va_hi = _value_area(hist, value_area)
    return poc, lo + (va_hi + 1) * width, lo + va_lo * width, centers, hist


def anchored_value_area(
    df: pd.DataFrame, anchor: pd.Series, *, step: int = 6, bins: int = 24,
    max_window: int = 96, value_area: float = 0.7,
) -> pd.DataFrame:  # fmt: skip
    """Value area (`session_vah`, `session_val`) of the volume since the current anchor.

    Recomputed every `step` candles from the anchor's first row (at most `max_window` rows back)
    to that candle, and used until the next recomputation within the same session. Reads rows
    <= t. NaN until the first recomputation of a session.
    """
    n = len(df)
    high = df["high"].to_numpy(dtype="float64")
    low = df["low"].to_numpy(dtype="float64")
    close = df["close"].to_numpy(dtype="float64")
    price = (high + low + close) / 3.0
    volume = df["volume"].to_numpy(dtype="float64")
    group = (anchor != anchor.shift()).cumsum().to_numpy()
    idx = np.arange(n)
    first = pd.Series(idx).groupby(group).transform("first").to_numpy()
    ends = idx[(idx - first) % step == step - 1]
    if len(ends) == 0:
        return pd.DataFrame({"session_vah": np.nan, "session_val": np.nan}, index=df.index)
    starts = np.maximum(first[ends], ends - max_window + 1)
    _, vah, val, _, _ = _levels(price, volume, low, high, ends, starts, max_window, bins,
                                value_area)  # fmt: skip
    pos = np.searchsorted(ends, idx, side="right") - 1
    ok = (pos >= 0) & (group[np.maximum(ends[np.maximum(pos, 0)], 0)] == group)
    p = np.maximum(pos, 0)
    return pd.DataFrame(
        {"session_vah": np.where(ok, vah[p], np.nan), "session_val": np.where(ok, val[p], np.nan)},
        index=df.index,
    )


def _nearest(nodes: np.ndarray, which: np.ndarray, close: np.ndarray, chunk: int = 200_000):
    """Distance from each close to the nearest node (inf = no node) of the profile in force."""
    out = np.empty(len(close))
    nodes = nodes.astype("float32")
    close32 = close.astype("float32")
    for s in range(0, len(close), chunk):  # chunks bound memory at chunk x bins floats
        # float32 halves memory traffic; node distances need no more precision than that
        d = np.abs(nodes[which[s : s + chunk]] - close32[s : s + chunk, None]).min(axis=1)
        out[s : s + chunk] = d
    out[~np.isfinite(out)] = np.nan
    return out


def anchored_poc(
    df: pd.DataFrame, anchor: pd.Series, atr: pd.Series, *, bin_share: float = 0.001
) -> pd.DataFrame:
    """Point of control of the volume traded since the current anchor (e.g. session start).

    `anchor` labels rows of one session (a new value starts a new profile). Bins are
    `bin_share` wide in log price around the session's first open. The histogram's maximum at
    row t is the largest running bin volume seen so far in the session, so the POC is the bin of
    the row that last set it: fully vectorised, reads rows <= t. Returns `session_poc` and
    `session_poc_dist_atr` (close minus POC, in ATR).
    """
    group = (anchor != anchor.shift()).cumsum().to_numpy()
    price = ((df["high"] + df["low"] + df["close"]) / 3.0).to_numpy(dtype="float64")
    first_open = pd.Series(df["open"].to_numpy(dtype="float64")).groupby(group).transform("first")
    step = np.log1p(bin_share)
    b = np.floor(np.log(price / first_open.to_numpy()) / step)
    b = np.where(np.isfinite(b), b, np.nan)
    vol = pd.Series(np.nan_to_num(df["volume"].to_numpy(dtype="float64")))
    run = vol.groupby([group, b], dropna=False).cumsum().to_numpy()
    run = np.where(np.isnan(b), np.nan, run)
    best = pd.Series(run).groupby(group).cummax().to_numpy()
    setter = pd.Series(np.where(run >= best, b, np.nan)).groupby(group).ffill().to_numpy()
    poc = first_open.to_numpy() * np.exp((setter + 0.5) * step)
    a = atr.to_numpy(dtype="float64")
    dist = (df["close"].to_numpy(dtype="float64") - poc) / np.where(a > 0, a, np.nan)
    return pd.DataFrame({"session_poc": poc, "session_poc_dist_atr": dist}, index=df.index)
