"""`BacktestRows` against Freqtrade's own DataProvider: the same last analysed row, field for field
and type for type, as `get_analyzed_dataframe` slices in backtests, at every slice edge."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType, RunMode

from perpflow.strategy.analysed_rows import rows_for
from perpflow.strategy.risk_callbacks import _row

PAIR = "BTC/USDT:USDT"
FIELDS = ("date", "close", "atr", "flag", "block", "tag", "not_a_column")


def _frame(n: int, shift: float = 0.0) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame({
        "date": pd.date_range("2026-01-01", periods=n, freq="5min", tz="UTC").as_unit("ms"),
        "close": i + shift, "atr": np.where(i % 7 == 0, np.nan, i / 10), "flag": i % 2 == 0,
        "block": (i % 4).astype("int8"), "tag": pd.Series(np.where(i % 3, "sweep_low", None),
                                                          dtype="str"),
    })  # fmt: skip


def _dp(runmode=RunMode.BACKTEST) -> DataProvider:
    return DataProvider({"runmode": runmode, "candle_type_def": CandleType.FUTURES,
                         "timeframe": "5m"}, None)  # fmt: skip


def _same(got: dict | None, want: dict | None) -> None:
    if want is None:
        assert got is None
        return
    assert got is not None and got.keys() == want.keys()
    for k, v in want.items():
        assert type(got[k]) is type(v), k
        assert (pd.isna(v) and pd.isna(got[k])) or got[k] == v, k


def _public(dp: DataProvider) -> dict | None:
    df, _ = dp.get_analyzed_dataframe(PAIR, "5m")
    return None if df.empty else _row(df, FIELDS)


def test_rows_equal_the_sliced_frame_at_every_edge():
    dp = _dp()
    rows = rows_for(dp, "5m")
    assert rows is not None, "Freqtrade's DataProvider no longer holds the state read here"
    _same(rows.row(PAIR, FIELDS), None)  # no frame yet
    dp._set_cached_df(PAIR, "5m", _frame(2500), CandleType.FUTURES)
    _same(rows.row(PAIR, FIELDS), None)  # no slice index yet: the public path has no row either
    for i in (0, 1, 2, 500, 999, 1000, 1001, 2499, 2500, 2501, 3499, 3500, 4000):
        dp._set_dataframe_max_index(PAIR, i)
        _same(rows.row(PAIR, FIELDS), _public(dp))
    assert rows.row("ETH/USDT:USDT", FIELDS) is None


def test_a_new_analysed_frame_is_read_afresh():
    dp = _dp(RunMode.HYPEROPT)
    rows = rows_for(dp, "5m")
    dp._set_cached_df(PAIR, "5m", _frame(100), CandleType.FUTURES)
    dp._set_dataframe_max_index(PAIR, 50)
    assert rows.row(PAIR, ("close",)) == {"close": 49.0}
    dp._set_cached_df(PAIR, "5m", _frame(100, shift=0.5), CandleType.FUTURES)  # next epoch
    assert rows.row(PAIR, ("close",)) == {"close": 49.5}
    copy = pickle.loads(cloudpickle.dumps(rows))  # a hyperopt worker's copy, without the arrays
    assert copy._columns == {} and copy.row(PAIR, ("close",)) == {"close": 49.5}
    dp.clear_cache()
    assert rows.row(PAIR, ("close",)) is None


@pytest.mark.parametrize("runmode", [RunMode.DRY_RUN, RunMode.LIVE])
def test_dry_run_and_live_keep_the_public_path(runmode):
    assert rows_for(_dp(runmode), "5m") is None
    assert rows_for(None, "5m") is None
