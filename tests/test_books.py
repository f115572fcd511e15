"""A trade its exchange-side stop closes keeps the funding it paid (Freqtrade drops it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.enums import RunMode, TradingMode
from freqtrade.persistence import Order, Trade, init_db

from perpflow.strategy.books import BooksMixin

T0 = datetime(2026, 5, 12, 7, 25, tzinfo=UTC)


_IDS = iter(range(1, 10**6))


def _order(side: str, price: float, when: datetime, funding=None) -> Order:
    return Order(ft_order_side=side, ft_pair="SOL/USDT:USDT", ft_is_open=False,
                 order_id=f"{side}-{next(_IDS)}",
                 ft_amount=59.0, ft_price=price,
                 status="closed", symbol="SOL/USDT:USDT", order_type="market", side="buy"
                 if side == "buy" else "sell", price=price, average=price, amount=59.0,
                 filled=59.0, remaining=0.0, cost=59.0 * price, order_date=when,
                 order_filled_date=when, funding_fee=funding)  # fmt: skip


@pytest.fixture(autouse=True)
def _db(tmp_path):
    init_db(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    yield
    Trade.session.remove()


def _closed_by_stop() -> tuple[Trade, Order]:
    trade = Trade(pair="SOL/USDT:USDT", stake_amount=59 * 166.51 / 2, amount=59.0,
                       open_rate=166.51, fee_open=0.0005, fee_close=0.0005, leverage=2.0,
                       is_short=False, trading_mode=TradingMode.FUTURES, exchange="binance",
                       open_date=T0, is_open=True)  # fmt: skip
    Trade.session.add(trade)
    trade.orders.append(_order("buy", 166.51, T0, funding=0.0))
    trade.set_funding_fees(-0.9877)  # what the exchange settled at 08:00
    stop = _order("stoploss", 166.60, T0 + timedelta(hours=1))
    trade.orders.append(stop)
    trade.update_trade(stop)  # Freqtrade's own handling of the stop's fill
    return trade, stop


def test_freqtrade_drops_the_funding_of_a_stop_closed_trade():
    trade, _ = _closed_by_stop()
    assert not trade.is_open
    assert trade.funding_fees == 0.0  # the bug this works around (Freqtrade 2026.9)


class _Bot(BooksMixin):
    def __init__(self, runmode=RunMode.DRY_RUN, fills=None):
        self.config = {"runmode": runmode}
        self.dp = type("DP", (), {"_exchange": _Exchange(fills or [])})()


class _Exchange:
    def __init__(self, fills):
        self.fills, self.calls = fills, 0

    def get_trades_for_order(self, order_id, pair, since):
        self.calls += 1
        return self.fills


def test_the_books_get_the_funding_back_once():
    trade, stop = _closed_by_stop()
    Trade.commit()
    before = trade.close_profit_abs
    bot = _Bot()
    assert bot.reconcile_books(T0 + timedelta(hours=2)) == 1
    assert stop.funding_fee == pytest.approx(-0.9877)
    assert trade.funding_fees == pytest.approx(-0.9877) and trade.funding_fee_running == 0.0
    assert trade.close_profit_abs == pytest.approx(before - 0.9877, abs=1e-6)
    assert bot.reconcile_books(T0 + timedelta(hours=3)) == 0  # booked once
    # a trade closed long ago is not looked at
    trade2, _ = _closed_by_stop()
    Trade.commit()
    assert _Bot().reconcile_books(T0 + timedelta(days=30)) == 0


def test_live_fee_rate_is_the_fills_total_fee_over_cost():
    trade, _ = _closed_by_stop()
    Trade.commit()
    # the entry filled 1/6 as taker (0.05%) and 5/6 as maker (0.02%): Freqtrade's mean of the two
    # rates is 0.035%, the exchange charged 0.025% of the cost
    fills = [{"cost": 1000.0, "fee": {"cost": 0.5, "currency": "USDT"}},
             {"cost": 5000.0, "fee": {"cost": 1.0, "currency": "USDT"}}]  # fmt: skip
    trade.fee_open = 0.00035
    bot = _Bot(RunMode.LIVE, fills)
    bot.reconcile_books(T0 + timedelta(hours=2))
    assert trade.fee_open == pytest.approx(1.5 / 6000)
    calls = bot.dp._exchange.calls
    bot._pf_books_at = None
    bot.reconcile_books(T0 + timedelta(hours=3))
    assert bot.dp._exchange.calls == calls  # each order's fills are read once
    # a fee in another currency (e.g. BNB) is not converted: Freqtrade's rate stands
    trade2, _ = _closed_by_stop()
    Trade.commit()
    trade2.fee_open = 0.00035
    _Bot(RunMode.LIVE, [{"cost": 1000.0, "fee": {"cost": 0.001, "currency": "BNB"}}]).reconcile_books(
        T0 + timedelta(hours=2))  # fmt: skip
    assert trade2.fee_open == 0.00035
