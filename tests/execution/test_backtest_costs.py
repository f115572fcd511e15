"""`perpflow execution costs`: which legs are priced, causal inputs, and clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.errors import UserError
from perpflow.execution.backtest_costs import leg_costs, load_trades, summary


def _candles(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    date = pd.date_range("2026-01-01", periods=n, freq="5min", tz="UTC")
    return pd.DataFrame({"date": date, "open": close, "high": close * 1.001,
                         "low": close * 0.999, "close": close, "volume": 1_000.0})  # fmt: skip


def _trades() -> pd.DataFrame:
    return pd.DataFrame({
        "pair": ["X/USDT:USDT"] * 3, "is_short": [False, True, False],
        "open_date": pd.to_datetime(["2026-01-09 10:00", "2026-01-09 12:00", "2026-01-09 14:00"], utc=True),
        "close_date": pd.to_datetime(["2026-01-09 11:00", "2026-01-09 13:00", "2026-01-09 15:00"], utc=True),
        "open_rate": [100.0, 100.0, 100.0], "close_rate": [99.0, 101.0, 103.0], "amount": [10.0, 20.0, 30.0],
        "exit_reason": ["stop_loss", "trailing_stop_loss", "take_profit_r"],
        "enter_tag": ["a", "b", "c"], "profit_abs": [-10.0, -20.0, 90.0],
    })  # fmt: skip


def test_stops_only_prices_the_stop_exits_with_the_exit_side():
    c = leg_costs(_trades(), {"X/USDT:USDT": _candles()}, "5m", legs="stops")
    assert list(c["trade"]) == [0, 1] and list(c["side"]) == ["sell", "buy"]
    assert (c["cost_bps"] > 0).all() and (c["source"] == "candles").all()
    assert c["cost_quote"].iloc[0] == pytest.approx(10 * 99.0 * c["cost_bps"].iloc[0] / 1e4)
    s = summary(_trades(), c)
    assert s["adjusted_profit"] == pytest.approx(60.0 - c["cost_quote"].sum())


def test_all_legs_and_causal_inputs():
    candles = _candles()
    full = leg_costs(_trades(), {"X/USDT:USDT": candles}, "5m", legs="all")
    assert len(full) == 6 and set(full["leg"]) == {"entry", "stop exit", "exit"}
    # inputs as of each leg: candles after the last exit change nothing
    cut = candles[candles["date"] < pd.Timestamp("2026-01-09 15:00", tz="UTC")]
    again = leg_costs(_trades(), {"X/USDT:USDT": cut}, "5m", legs="all")
    np.testing.assert_allclose(full["cost_bps"], again["cost_bps"])


def test_refusals_name_what_to_do(tmp_path):
    with pytest.raises(UserError, match="no such backtest result"):
        load_trades(tmp_path / "missing.zip")
    with pytest.raises(UserError, match="--datadir"):
        leg_costs(_trades(), {}, "5m")
    with pytest.raises(ValueError, match="legs"):
        leg_costs(_trades(), {"X/USDT:USDT": _candles()}, "5m", legs="entries")
