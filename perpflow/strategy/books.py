"""Keep the bot's books equal to the exchange's where Freqtrade 2026.9 drops something.

Freqtrade books the funding a position paid or received on the order that closes it
(`Trade.update_trade`), except when that order is an exchange-side stop: the stoploss branch is
skipped, `recalc_trade_from_orders` then sums no funding for the trade, and its profit in the
database misses what the exchange settled (found by reconciling a live bot with the local
exchange's ledger: a trade held over 08:00 showed 0.00 funding against the venue's -0.99).
`order_filled`, which Freqtrade calls right after `update_trade` and before the commit, moves the
running funding onto the stop's fill and recomputes the trade.
"""

from __future__ import annotations

from datetime import datetime


class BooksMixin:
    """`order_filled`: a filled exchange-side stop carries the trade's running funding."""

    def order_filled(self, pair: str, trade, order, current_time: datetime, **kwargs) -> None:
        running = trade.funding_fee_running
        if order.ft_order_side != "stoploss" or order.funding_fee is not None or not running:
            return
        order.funding_fee = running
        trade.funding_fee_running = 0.0
        trade.recalc_trade_from_orders(is_closing=not trade.is_open)
