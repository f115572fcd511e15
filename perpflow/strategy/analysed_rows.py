"""A few fields of a pair's last analysed row, in backtests without slicing the frame per call.

In backtests and hyperopt Freqtrade's `DataProvider.get_analyzed_dataframe` returns
`frame.iloc[max(0, i - 1000):i]` of the pair's whole analysed frame, `i` being its slice index
for the candle being processed: ~0.3 ms on LiquiditySweep's ~125 columns, and the risk callbacks
ask for a few fields of that slice's last row per candle per open trade (the stop's trail, the
governor's book, every entry callback). `BacktestRows` reads the same row of the same frame: the
frame and the slice index the DataProvider keeps, each asked-for column turned into a NumPy array
once per frame. Written by hand because Freqtrade 2026.9 has no public accessor for either (its
private attributes are read, and `rows_for` answers None when they are missing, e.g. another
Freqtrade version: callers then slice through `get_analyzed_dataframe` as before). Dry-run and
live keep the public path: there the DataProvider returns the whole frame without slicing.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from freqtrade.data.dataprovider import MAX_DATAFRAME_CANDLES
from freqtrade.enums import CandleType, RunMode

LIVE_MODES = (RunMode.DRY_RUN, RunMode.LIVE)


class BacktestRows:
    """Fields of the last row `get_analyzed_dataframe(pair, timeframe)` would return, read from
    the DataProvider's own frame and slice index (`row`); None where it would return no row."""

    def __init__(self, dp: Any, timeframe: str) -> None:
        self._dp, self._timeframe = dp, timeframe
        self._candle_type = dp._config.get("candle_type_def", CandleType.SPOT)
        # pair -> (the frame, {column: its values})
        self._columns: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {}

    def __getstate__(self) -> dict:
        # hyperopt cloudpickles the strategy to its workers: the columns are rebuilt there
        return {**self.__dict__, "_columns": {}}

    def row(self, pair: str, fields: tuple[str, ...]) -> dict | None:
        """`fields` (those the frame has) of the pair's last analysed row, as `df.iat` gives
        them; None without a frame, slice index or row (an empty slice)."""
        # looked up on every call: `DataProvider.clear_cache` replaces both dicts
        held = self._dp._DataProvider__cached_pairs.get((pair, self._timeframe, self._candle_type))
        stop = self._dp._DataProvider__slice_index.get(pair)
        if held is None or stop is None:
            return None
        frame = held[0]
        end = min(stop, len(frame))
        if end <= max(0, stop - MAX_DATAFRAME_CANDLES):
            return None
        cached = self._columns.get(pair)
        if cached is None or cached[0] is not frame:  # a new backtest run analysed it again
            cached = self._columns[pair] = (frame, {})
        arrays, pos = cached[1], end - 1
        out = {}
        for c in fields:
            arr = arrays.get(c)
            if arr is None:
                if c not in frame.columns:
                    continue
                arr = arrays[c] = frame[c].to_numpy()  # aware dates: Timestamps, as iat
            out[c] = arr[pos]
        return out


def rows_for(dp: Any, timeframe: str) -> BacktestRows | None:
    """A `BacktestRows` for this DataProvider in a backtest/hyperopt run, None in dry-run/live or
    when the DataProvider does not hold the private state it reads."""
    if dp is None or getattr(dp, "runmode", None) in LIVE_MODES:
        return None
    frames = getattr(dp, "_DataProvider__cached_pairs", None)
    index = getattr(dp, "_DataProvider__slice_index", None)
    if not isinstance(frames, dict) or not isinstance(index, dict):
        return None
    return BacktestRows(dp, timeframe)
