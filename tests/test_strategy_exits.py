"""LiquiditySweep's own exits reach Freqtrade: `should_exit` (what backtests, dry-run and live
all call) returns the R-multiple take profit and the funding exit from `custom_exit`. Freqtrade
calls `custom_exit` only when `use_exit_signal` is on; with it off both exits never ran."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.enums import ExitType, TradingMode
from freqtrade.persistence import LocalTrade
from freqtrade.resolvers import StrategyResolver

from perpflow.strategy.risk_callbacks import INITIAL_STOP_KEY, STOP_KEY
from tests.conftest import REPO

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def _trade(is_short: bool = False, funding_fees: float = 0.0) -> LocalTrade:
    trade = LocalTrade(
        id=1, pair="BTC/USDT:USDT", exchange="binance", open_rate=100.0, amount=1.0,
        stake_amount=50.0, leverage=2.0, is_short=is_short, open_date=NOW - timedelta(hours=1),
        fee_open=0.0005, fee_close=0.0005, trading_mode=TradingMode.FUTURES, is_open=True,
    )  # fmt: skip
    trade.funding_fees = funding_fees
    trade.adjust_stop_loss(100.0, -0.35, initial=True)
    return trade


def _strat(tmp_path, section: dict | None = None):
    """LiquiditySweep as Freqtrade loads it; levels from the cache, as in a backtest. No
    analysed candles: the trail keeps the stored stop."""
    cfg = {**json.loads((REPO / "config.json").read_text()), "perpflow": section or {},
           "strategy": "LiquiditySweep", "strategy_path": str(REPO / "strategies"),
           "user_data_dir": tmp_path, "runmode": "backtest"}  # fmt: skip
    s = StrategyResolver.load_strategy(cfg)
    s._apply_hyperopt_params()
    s._last_row = lambda pair, fields: None
    return s


def _exits(s, trade, rate: float) -> list[str]:
    got = s.should_exit(trade, rate, NOW, enter=False, exit_=False, low=rate, high=rate)
    return [e.exit_reason for e in got if e.exit_type == ExitType.CUSTOM_EXIT]


@pytest.mark.parametrize("is_short", [False, True])
def test_take_profit_exits_at_the_r_multiple(tmp_path, is_short):
    s, trade = _strat(tmp_path), _trade(is_short)
    stop = 102.0 if is_short else 98.0  # initial risk 2 -> target 3R = 6
    s._set_level(trade, INITIAL_STOP_KEY, stop)
    s._set_level(trade, STOP_KEY, stop)
    sign = -1 if is_short else 1
    assert s.use_exit_signal, "Freqtrade skips custom_exit without exit signals"
    assert _exits(s, trade, 100.0 + sign * 5.9) == []
    assert _exits(s, trade, 100.0 + sign * 6.0) == ["take_profit_r"]


def test_funding_paid_exits_when_enabled(tmp_path):
    section = {"risk": {"carry": {"enabled": True, "max_paid_r": 0.5}}}
    s = _strat(tmp_path, section)
    # risk in quote: 2 / 100 * 50 stake * 2x = 2 USDT; half of it is 1 USDT of funding paid
    below, at = _trade(funding_fees=-0.99), _trade(funding_fees=-1.0)
    for trade in (below, at):
        s._set_level(trade, INITIAL_STOP_KEY, 98.0)
        s._set_level(trade, STOP_KEY, 98.0)
    assert _exits(s, below, 100.0) == []
    s._stops().clear()
    s._set_level(at, INITIAL_STOP_KEY, 98.0)
    s._set_level(at, STOP_KEY, 98.0)
    assert _exits(s, at, 100.0) == ["funding_paid"]
