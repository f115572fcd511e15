"""A trade its exchange-side stop closes keeps the funding it paid (Freqtrade drops it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.enums import TradingMode
from freqtrade.persistence import Order, Trade, init_db

from perpflow.strategy.books import BooksMixin

T0 = datetime(2026, 5, 12, 7, 25, tzinfo=UTC)


def _order(side: str, price: float, when: datetime, funding=None) -> Order:
    return Order(ft_order_side=side, ft_pair="SOL/USDT:USDT", ft_is_open=False, order_id=side,
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


def test_order_filled_books_it_on_the_stop_fill():
    trade, stop = _closed_by_stop()
    before = trade.close_profit_abs
    BooksMixin().order_filled("SOL/USDT:USDT", trade, stop, T0 + timedelta(hours=1))
    assert stop.funding_fee == pytest.approx(-0.9877)
    assert trade.funding_fees == pytest.approx(-0.9877)
    assert trade.close_profit_abs == pytest.approx(before - 0.9877, abs=1e-6)
    # a second call (or any other order) changes nothing
    BooksMixin().order_filled("SOL/USDT:USDT", trade, stop, T0 + timedelta(hours=1))
    assert trade.funding_fees == pytest.approx(-0.9877)
