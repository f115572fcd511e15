"""Parity pieces on known inputs: trade matching by entry candle and the cause of each difference."""

from __future__ import annotations

import pandas as pd
import pytest

from perpflow.validation.parity_causes import explain, match_trades, summary

T0 = pd.Timestamp("2026-08-31 06:00", tz="UTC")
M5 = pd.Timedelta("5min")


def _trades(rows):
    return pd.DataFrame(
        [{"pair": p, "is_short": s, "open_date": T0 + k * M5 + pd.Timedelta(seconds=sec),
          "close_date": T0 + (k + c) * M5, "open_rate": r, "enter_tag": "sweep_low"}
         for p, s, k, sec, r, c in rows]
    )  # fmt: skip


def _frame(pair_signals: dict[int, int], short: bool = False) -> pd.DataFrame:
    dates = [T0 + i * M5 for i in range(-2, 20)]
    col = "enter_short" if short else "enter_long"
    return pd.DataFrame({
        "date": dates, col: [pair_signals.get(i, 0) for i in range(-2, 20)],
        "ok_regime": [True] * len(dates), "rv_pct": [0.5] * len(dates),
    })  # fmt: skip


def test_matching_is_by_pair_side_and_entry_candle():
    live = _trades([("BTC", False, 1, 3, 100.02, 4), ("ETH", True, 2, 4, 50.0, 2),
                    ("SOL", False, 5, 2, 10.0, 1)])  # fmt: skip
    bt = _trades([("BTC", False, 1, 0, 100.0, 4), ("ETH", False, 2, 0, 50.0, 2),
                  ("SOL", False, 6, 0, 10.0, 1), ("BTC", False, 9, 0, 101.0, 1)])  # fmt: skip
    m = match_trades(live, bt, timeframe="5m", start=T0, end=T0 + 20 * M5)
    matched = m[m["status"] == "matched"]
    assert matched[["pair", "side"]].values.tolist() == [["BTC", "long"]]
    assert matched["slippage_bps"].iloc[0] == pytest.approx(2.0)  # paid 100.02 for 100.00
    assert matched["delay_s"].iloc[0] == 3
    s = summary(m)
    # ETH differs in side, SOL by one candle: neither matches
    assert (s["backtest_trades"], s["live_trades"], s["matched"]) == (4, 3, 1)
    assert s["live_only"] == 2 and s["backtest_only"] == 3
    # outside [start, end) nothing counts
    assert summary(match_trades(live, bt, timeframe="5m", start=T0 + 3 * M5, end=T0 + 8 * M5))[
        "backtest_trades"] == 1  # fmt: skip
    empty = match_trades(live.iloc[:0], bt, timeframe="5m", start=T0, end=T0 + 20 * M5)
    assert summary(empty)["matched"] == 0 and summary(empty)["backtest_only"] == 4


def test_every_difference_gets_its_cause():
    bt = _trades([("BTC", False, 3, 0, 100.0, 2), ("ETH", False, 4, 0, 50.0, 2),
                  ("SOL", False, 6, 0, 10.0, 2), ("XRP", False, 8, 0, 1.0, 2)])  # fmt: skip
    live = _trades([("SOL", False, 2, 1, 10.0, 6), ("DOGE", False, 7, 1, 0.1, 2)])
    frames = {
        "BTC": _frame({}).assign(ok_regime=False),  # no live signal: the regime gate differed
        "ETH": _frame({3: 1}),  # the signal fired, the bot refused it (log line)
        "SOL": _frame({1: 1, 5: 1}),  # fired, but the pair was still in a trade
        "DOGE": _frame({6: 1}),
    }
    signals = {"BTC": pd.DataFrame({"date": [T0 + 2 * M5], "ok_regime": [True],
                                    "rv_pct": [0.5], "enter_long": [1]})}  # fmt: skip
    log = f"{(T0 + 4 * M5):%Y-%m-%d %H:%M:%S},123 - perpflow.strategy.risk_guard - INFO - ETH long entry refused: carry: funding too high\n"  # noqa: E501
    m = match_trades(live, bt, timeframe="5m", start=T0, end=T0 + 20 * M5)
    m["cause"] = explain(m, live_frames=frames, bt_signals=signals, live_trades=live,
                         bt_trades=bt, log_text=log, timeframe="5m")  # fmt: skip
    cause = {(r.pair, r.status): r.cause for r in m.itertuples()}
    assert "ok_regime: live False vs backtest True" in cause[("BTC", "backtest_only")]
    assert "carry: funding too high" in cause[("ETH", "backtest_only")]
    assert cause[("SOL", "backtest_only")].startswith("pair busy in the bot")
    assert "not analysed" in cause[("XRP", "backtest_only")]
    assert "no backtest entry" in cause[("DOGE", "live_only")]
