"""Dry-run exchange-side stops fill on the 1m candle that traded through them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.enums import RunMode, TradingMode
from freqtrade.persistence import Order, Trade, init_db

from perpflow.strategy.dry_stops import DryStopsMixin, stop_fill

T0 = datetime(2026, 5, 12, 6, 30, 20, tzinfo=UTC)
MIN = 60_000


def _candles(start_ms: int, lows_highs: list[tuple[float, float, float]]) -> list[list]:
    return [[start_ms + i * MIN, o, h, lo, o, 1.0] for i, (o, h, lo) in enumerate(lows_highs)]


def test_stop_fill_reads_lows_for_sells_and_highs_for_buys():
    c = _candles(0, [(100, 101, 99.5), (99.6, 100, 98.9), (99, 99.2, 97)])
    assert stop_fill(99.0, sell=True, candles=c) == (99.0, MIN)  # the wick of the 2nd minute
    assert stop_fill(99.7, sell=True, candles=c[1:]) == (99.6, MIN)  # opened beyond: the open
    assert stop_fill(96.0, sell=True, candles=c) is None
    assert stop_fill(100.5, sell=False, candles=c) == (100.5, 0)
    assert stop_fill(102.0, sell=False, candles=c) is None


class _Exchange:
    _ft_has = {"stop_price_prop": "stopPrice"}

    def __init__(self, candles):
        self.candles, self.requests = candles, []
        self._dry_run_open_orders = {}
        self._api = self

    def fetch_ohlcv(self, pair, tf, since, limit):
        self.requests.append((since, limit))
        return [c for c in self.candles if c[0] >= since][:limit]

    def add_dry_order_fee(self, pair, order, taker_or_maker):
        order["fee"] = {"cost": order["cost"] * 0.0005, "currency": "USDT", "rate": 0.0005}
        return order


class _Base:
    def bot_loop_start(self, current_time, **kwargs):
        self.next_called = True


class _Bot(DryStopsMixin, _Base):
    def __init__(self, exchange):
        self.config = {"runmode": RunMode.DRY_RUN}
        self.dp = type("DP", (), {"_exchange": exchange})()


@pytest.fixture
def trade(tmp_path):
    init_db(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    t = Trade(pair="ETH/USDT:USDT", stake_amount=1000, amount=1.0, open_rate=3188.8,
              fee_open=0.0005, fee_close=0.0005, leverage=3.0, is_short=True,
              trading_mode=TradingMode.FUTURES, exchange="binance", open_date=T0, is_open=True)  # fmt: skip
    Trade.session.add(t)
    t.orders.append(Order(ft_order_side="stoploss", ft_pair=t.pair, ft_is_open=True, ft_amount=1.0,
                          ft_price=3202.33, order_id="dry-stop-1", status="open", symbol=t.pair,
                          order_type="stop_market", side="buy", price=3202.33, amount=1.0,
                          stop_price=3202.33, order_date=T0 + timedelta(seconds=40)))  # fmt: skip
    Trade.commit()
    yield t
    Trade.session.remove()


def test_a_wick_between_loops_fills_the_dry_stop(trade):
    placed = int((T0 + timedelta(seconds=40)).timestamp() * 1000)
    first = -(-placed // MIN) * MIN  # 06:31, the first whole minute after placement
    ex = _Exchange(
        _candles(
            first - MIN,
            [(3195, 3205, 3190)]  # before placement: ignored
            + [(3190, 3196, 3185), (3194, 3203.0, 3192), (3199, 3200, 3195)],
        )
    )
    ex._dry_run_open_orders["dry-stop-1"] = {
        "id": "dry-stop-1", "symbol": trade.pair, "side": "buy", "price": 3202.33,
        "stopPrice": 3202.33, "amount": 1.0, "status": "open", "timestamp": placed,
    }  # fmt: skip
    bot = _Bot(ex)
    # at 06:32:01 only the 06:31 minute is closed: no fill yet
    assert bot.fill_dry_stops(datetime(2026, 5, 12, 6, 32, 1, tzinfo=UTC)) == 0
    assert bot.fill_dry_stops(datetime(2026, 5, 12, 6, 32, 30, tzinfo=UTC)) == 0  # no new minute
    assert len(ex.requests) == 1
    # at 06:33:01 the 06:32 wick to 3203.0 is a closed candle: filled at the stop
    assert bot.fill_dry_stops(datetime(2026, 5, 12, 6, 33, 1, tzinfo=UTC)) == 1
    order = ex._dry_run_open_orders["dry-stop-1"]
    assert order["status"] == "closed" and order["average"] == 3202.33 and order["filled"] == 1.0
    assert order["fee"]["rate"] == 0.0005
    assert bot.fill_dry_stops(datetime(2026, 5, 12, 6, 40, tzinfo=UTC)) == 0  # filled once
    # live (real stops on the exchange) and backtests are left alone; the next mixin always runs
    ex._dry_run_open_orders["dry-stop-1"]["status"] = "open"
    bot._pf_dry_stop_checked.clear()
    bot.config["runmode"] = RunMode.LIVE
    bot.bot_loop_start(current_time=datetime(2026, 5, 12, 6, 45, tzinfo=UTC))
    assert bot.next_called and ex._dry_run_open_orders["dry-stop-1"]["status"] == "open"
    bot.config["runmode"] = RunMode.DRY_RUN
    bot.bot_loop_start(current_time=datetime(2026, 5, 12, 6, 45, tzinfo=UTC))
    assert ex._dry_run_open_orders["dry-stop-1"]["status"] == "closed"
