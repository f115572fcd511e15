"""What happens later in a session block: outcome labels for pattern mining (read the future).

Blocks are the runs of one New York session code (`perpflow.features.sessions`) on the regular
candle grid, "other" included; the NEXT block of a candle is the next run of a named block
(`ny_open`, `ny_close`, `asia_london`), skipping "other". A block is complete when the grid saw
both its start and its end (not the first or last run of the data); outcomes of an incomplete
block, or of a next block the data ends in, are NaN. Missing candles inside the grid stay NaN
(a block whose last close is missing has a NaN trend outcome).

Every outcome is measured from the close of candle t (when a trigger at t is known):
`ret_same_atr` / `ret_next_atr` the close at the end of this / the next block minus close t, in
ATR of t; `range_x_same` / `range_x_next` that block's high-low over the median range of the
previous `range_lookback` complete blocks of the same name; `revisit_open` 1 when the candles
after t in this block trade back to the block's open price (from the side close t is on), else 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.features.sessions import ny_session_block

RANGE_LOOKBACK = 20  # blocks of the same name behind the trailing median range (4 weeks)


def _grid(df: pd.DataFrame, atr: pd.Series, timeframe: str) -> tuple[pd.DataFrame, np.ndarray]:
    """`df` (+ atr) on the full regular grid of `timeframe` and the grid row of each df row."""
    dates = pd.to_datetime(df["date"], utc=True)
    if not dates.is_monotonic_increasing or dates.duplicated().any():
        raise ValueError("session_outcomes needs candles sorted by date without duplicates")
    grid = pd.date_range(dates.iloc[0], dates.iloc[-1], freq=pd.Timedelta(timeframe))
    rows = grid.get_indexer(dates)
    if (rows < 0).any():
        raise ValueError(f"candle dates are off the {timeframe} grid (e.g. {dates[rows < 0].iloc[0]}); "
                         "pass the timeframe the candles were built with")  # fmt: skip
    cols = {c: df[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close")}
    cols["atr"] = atr.to_numpy(dtype="float64")
    g = pd.DataFrame(np.nan, index=np.arange(len(grid)), columns=list(cols))
    for c, v in cols.items():
        g.loc[rows, c] = v
    g["date"] = grid
    return g, rows


def _runs(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run id per row, first and last row of each run of equal codes."""
    new = np.r_[True, code[1:] != code[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:] - 1, len(code) - 1]
    return np.cumsum(new) - 1, starts, ends


def _range_ratio(g: pd.DataFrame, starts, run_code, complete, lookback: int) -> np.ndarray:
    """Each complete run's high-low over the median of the previous `lookback` complete runs
    with the same code (at least half of them); NaN otherwise."""
    hi = np.fmax.reduceat(g["high"].to_numpy(), starts)
    lo = np.fmin.reduceat(g["low"].to_numpy(), starts)
    rng = pd.Series(np.where(complete, hi - lo, np.nan))
    done = rng[complete]
    prev = done.groupby(run_code[complete]).shift(1)
    med = prev.groupby(run_code[complete]).rolling(lookback, min_periods=max(1, lookback // 2))
    med = med.median().reset_index(level=0, drop=True).sort_index()
    out = np.full(len(rng), np.nan)
    out[done.index] = (done / med.where(med > 0)).to_numpy()
    return out


def _after(values: np.ndarray, run: np.ndarray, *, low: bool) -> np.ndarray:
    """Min (low=True) or max of `values` over the rows after t in t's run (+-inf when none)."""
    fill = np.inf if low else -np.inf
    rev = pd.Series(np.where(np.isnan(values), fill, values)[::-1])
    acc = rev.groupby(run[::-1]).cummin() if low else rev.groupby(run[::-1]).cummax()
    suffix = acc.to_numpy()[::-1]  # over rows >= t in the run
    nxt = np.r_[suffix[1:], fill]
    same = np.r_[run[1:] == run[:-1], False]
    return np.where(same, nxt, fill)


def session_outcomes(df: pd.DataFrame, atr: pd.Series, *, timeframe: str = "5m",
                     range_lookback: int = RANGE_LOOKBACK) -> pd.DataFrame:  # fmt: skip
    """Block context and forward outcomes per candle of `df` (`date`, `open`, `high`, `low`,
    `close`; sorted, on the `timeframe` grid, gaps allowed) with `atr` aligned to it.

    Returns, on df's index: `block` (session code), `block_run` (run id on the grid),
    `block_pos` (bars since the block started), `block_complete` (bool) and the outcomes of the
    module docstring (float, NaN where unknown)."""
    g, rows = _grid(df, atr, timeframe)
    code = ny_session_block(g["date"]).to_numpy()
    run, starts, ends = _runs(code)
    nruns = len(starts)
    complete = np.ones(nruns, dtype=bool)
    complete[[0, -1]] = False
    run_code = code[starts]
    close, a = g["close"].to_numpy(), g["atr"].to_numpy()
    a = np.where(a > 0, a, np.nan)
    end_close = np.where(complete, close[ends], np.nan)
    range_x = _range_ratio(g, starts, run_code, complete, range_lookback)
    named = np.flatnonzero(run_code != 0)
    nxt_i = np.searchsorted(named, np.arange(nruns), side="right")
    has_next = nxt_i < len(named)
    nxt = np.append(named, 0)[nxt_i]  # the next named run (0 where none: masked below)
    next_close = np.where(has_next, end_close[nxt], np.nan)
    next_range = np.where(has_next, range_x[nxt], np.nan)
    later = np.arange(len(g)) < ends[run]  # a candle after t in t's block exists
    opened = g["open"].to_numpy()[starts][run]
    after_low = _after(g["low"].to_numpy(), run, low=True)
    after_high = _after(g["high"].to_numpy(), run, low=False)
    touched = np.where(close >= opened, after_low <= opened, after_high >= opened)
    known = complete[run] & later & np.isfinite(close) & np.isfinite(opened)
    out = pd.DataFrame({
        "block": code.astype("int8"),
        "block_run": run.astype("int64"),
        "block_pos": (np.arange(len(g)) - starts[run]).astype("int64"),
        "block_complete": complete[run],
        "ret_same_atr": np.where(later, (end_close[run] - close) / a, np.nan),
        "ret_next_atr": (next_close[run] - close) / a,
        "range_x_same": range_x[run],
        "range_x_next": next_range[run],
        "revisit_open": np.where(known, touched.astype("float64"), np.nan),
    })  # fmt: skip
    return out.iloc[rows].set_axis(df.index)
