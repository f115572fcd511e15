"""Keep the bot's books equal to the exchange's where Freqtrade 2026.9 gets them wrong.

Found by reconciling a live bot with the local exchange's ledger (`perpflow.validation.reconcile`):
- Funding on a stop-closed trade: Freqtrade books a position's funding on the order that closes
  it (`Trade.update_trade`), except when that order is an exchange-side stop; the trade's profit
  then misses what the exchange settled (0.00 funding against the venue's -0.99 over 08:00). A
  closed trade left with unbooked funding (`funding_fee_running`) gets it on its stop's fill.
- Fee rate of a fill in several parts: Freqtrade sets the trade's fee rate to the unweighted mean
  of its fills' rates, so an order filled half as taker and half as maker books the wrong fee.
  Live, each newly filled entry or exit order's rate becomes its fills' total fee / total cost.
Both run in `bot_loop_start` (dry-run and live, at most once a minute): the `trade` that
`order_filled` receives is Freqtrade's deep copy, so only the session's own trades can be fixed.
Every correction is logged with what changed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from freqtrade.enums import RunMode
from freqtrade.persistence import Order, Trade

logger = logging.getLogger(__name__)
EVERY = timedelta(minutes=1)
LOOKBACK = timedelta(days=2)  # closed trades this recent are checked


class BooksMixin:
    """`bot_loop_start` first puts the books right, then hands over to the next mixin."""

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        if self.config.get("runmode") in (RunMode.DRY_RUN, RunMode.LIVE):
            last = getattr(self, "_pf_books_at", None)
            if last is None or current_time - last >= EVERY:
                self._pf_books_at = current_time
                self.reconcile_books(current_time)
        super().bot_loop_start(current_time=current_time, **kwargs)

    def reconcile_books(self, now: datetime) -> int:
        """Fix the recent trades' funding and (live) fee rates; returns how many changed."""
        changed = 0
        since = (now - LOOKBACK).replace(tzinfo=None)  # Freqtrade stores naive UTC
        for trade in Trade.get_trades([Trade.close_date.is_(None) | (Trade.close_date >= since)]):
            fixed = _book_stop_funding(trade)
            if self.config.get("runmode") == RunMode.LIVE:
                fixed = self._weight_fee_rates(trade) or fixed
            if fixed:
                trade.recalc_trade_from_orders(is_closing=not trade.is_open)
                changed += 1
        if changed:
            Trade.commit()
        return changed

    def _weight_fee_rates(self, trade: Trade) -> bool:
        """Each newly filled entry/exit order's fee rate from its fills (live only)."""
        seen = getattr(self, "_pf_fee_checked", None)
        if seen is None:
            seen = self._pf_fee_checked = set()
        exchange = getattr(self.dp, "_exchange", None) if self.dp else None
        fixed = False
        for order in trade.orders:
            if (order.ft_is_open or not order.filled or order.ft_order_side == "stoploss"
                    or order.order_id in seen or exchange is None):  # fmt: skip
                continue
            seen.add(order.order_id)
            rate = _fills_fee_rate(exchange, trade, order)
            side = "fee_open" if order.ft_order_side == trade.entry_side else "fee_close"
            if rate is not None and abs(rate - (getattr(trade, side) or 0.0)) > 1e-9:
                logger.info("books: trade %s %s %s %.6f -> %.6f (its fills' total fee / cost)",
                            trade.id, trade.pair, side, getattr(trade, side) or 0.0, rate)  # fmt: skip
                setattr(trade, side, rate)
                fixed = True
        return fixed


def _book_stop_funding(trade: Trade) -> bool:
    """A closed trade whose running funding was never booked: book it on its stop's fill."""
    running = trade.funding_fee_running or 0.0
    if trade.is_open or not running:
        return False
    stops = [o for o in trade.orders if o.ft_order_side == "stoploss" and o.filled
             and not o.ft_is_open]  # fmt: skip
    if not stops or stops[-1].funding_fee:
        return False
    stops[-1].funding_fee = running
    trade.funding_fee_running = 0.0
    logger.info("books: trade %s %s funding %.4f booked on its stop fill (Freqtrade left it out)",
                trade.id, trade.pair, running)  # fmt: skip
    return True


def _fills_fee_rate(exchange, trade: Trade, order: Order) -> float | None:
    """Total fee / total cost of the order's fills in the stake currency (None if unknown)."""
    try:
        fills = exchange.get_trades_for_order(order.order_id, trade.pair, order.order_date_utc)
    except Exception as exc:  # noqa: BLE001 (a failed lookup leaves Freqtrade's rate)
        logger.warning("books: fills of order %s unavailable (%s)", order.order_id, exc)
        return None
    cost = sum(float(f.get("cost") or 0.0) for f in fills)
    fees = [f.get("fee") or {} for f in fills]
    stake = trade.stake_currency or trade.safe_quote_currency
    if cost <= 0 or any(fee.get("currency") not in (None, stake) for fee in fees):
        return None
    return sum(float(fee.get("cost") or 0.0) for fee in fees) / cost
