"""Slippage model costs against TA-Lib's ATR over the same candles (measured in the same run).

`model_inputs` over a year of 5m candles (105,120; SYNTHETIC random walk, so the run needs no
data) per candle, against `talib.ATR(14)` over the same arrays: the baseline a strategy already
pays per candle. `SlippageModel.cost` per call from a 25-level ccxt-style book (source 'book')
and from a calibrated profile (source 'profile'), against one ATR call on 100 candles (the
smallest thing a callback computes). Printed, never asserted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from bench_orderbook import _best

YEAR_5M = 365 * 288


def _candles(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    spread = np.abs(rng.normal(0, 0.001, n)) * close
    return pd.DataFrame({"date": pd.date_range("2025-01-01", periods=n, freq="5min", tz="UTC"),
                         "open": close, "high": close + spread, "low": close - spread,
                         "close": close, "volume": rng.gamma(2.0, 50.0, n)})  # fmt: skip


def _model():
    from perpflow.data.demo_books import book_rows
    from perpflow.execution.calibrate import calibrate

    minutes = pd.DataFrame({"date": pd.date_range("2026-06-01 18:00", periods=60, freq="1min",
                                                  tz="UTC"), "open": 100.0})  # fmt: skip
    rows = book_rows(minutes, exchange="binance", symbol="BTCUSDT", seed=0)
    rows = rows.rename(columns={"ts_recv": "ts"})  # as `book_snapshots` names it
    return calibrate([("BTCUSDT", rows)], exchange="binance"), rows


def main() -> dict:
    import talib

    from perpflow.execution.calibrate import model_inputs

    df = _candles(YEAR_5M)
    h, low, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    model_inputs(df.iloc[:1000], "5m")  # imports and first-call set-up out of the timing
    t_atr = _best(lambda: talib.ATR(h, low, c, timeperiod=14))
    t_in = _best(lambda: model_inputs(df, "5m"))
    n = len(df)
    print(f"model_inputs, {n:,} 5m candles: {t_in / n * 1e9:8.1f} ns/candle "
          f"({t_in:.3f} s); talib.ATR: {t_atr / n * 1e9:6.1f} ns/candle; ratio {t_in / t_atr:,.0f}x")  # fmt: skip

    model, rows = _model()
    r = rows.iloc[0]
    book = {"bids": [[r[f"bid_px_{i}"], r[f"bid_sz_{i}"]] for i in range(25)],
            "asks": [[r[f"ask_px_{i}"], r[f"ask_sz_{i}"]] for i in range(25)]}  # fmt: skip
    calls = 2_000
    h100, l100, c100 = h[:100], low[:100], c[:100]
    t_atr1 = (
        _best(lambda: [talib.ATR(h100, l100, c100, timeperiod=14) for _ in range(calls)]) / calls
    )
    t_book = _best(lambda: [model.cost("BTCUSDT", "ny_open", "buy", 2_000.0, book=book)
                            for _ in range(calls)]) / calls  # fmt: skip
    t_prof = _best(lambda: [model.cost("BTC/USDT:USDT", "ny_open", "buy", 2_000.0)
                            for _ in range(calls)]) / calls  # fmt: skip
    print(f"SlippageModel.cost per call: book (25 levels) {t_book * 1e6:6.1f} us, profile "
          f"{t_prof * 1e6:6.1f} us; talib.ATR on 100 candles {t_atr1 * 1e6:5.1f} us; ratios "
          f"{t_book / t_atr1:.0f}x, {t_prof / t_atr1:.0f}x")  # fmt: skip
    return {"inputs_ns_per_candle": t_in / n * 1e9, "atr_ns_per_candle": t_atr / n * 1e9,
            "cost_book_us": t_book * 1e6, "cost_profile_us": t_prof * 1e6, "atr100_us": t_atr1 * 1e6}  # fmt: skip


if __name__ == "__main__":
    main()
