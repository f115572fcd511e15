"""Dry-run exchange-side stops that see wicks, as the exchange (and the backtest) would.

Freqtrade's dry-run fills an exchange-side stop only when its loop happens to see the price
beyond it (the order book at that instant), so a wick between two loops leaves the dry trade
open while the exchange, and the backtest reading the candle's low, would have stopped it out:
the parity replay showed dry trades closing two candles late and missing the next entries.
Here, in dry-run only, each open dry stop is filled when a CLOSED 1m candle since the stop was
placed traded through it: at the stop price, or at the candle's open when it opened beyond the
stop (a gap), with the taker fee. Freqtrade's own stop handling then closes the trade in the
same loop. One 1m request per open stop per new closed minute. Written by hand: Freqtrade keeps
its dry-run orders in `Exchange._dry_run_open_orders`; no public hook fills them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from freqtrade.enums import RunMode
from freqtrade.persistence import Trade

logger = logging.getLogger(__name__)
MINUTE_MS = 60_000


def stop_fill(stop: float, *, sell: bool, candles: list[list]) -> tuple[float, int] | None:
    """(fill price, candle open ms) of the first 1m candle `[ts, o, h, l, c, ...]` that trades
    through a stop that sells (a long's stop) or buys (a short's), else None."""
    for ts, o, h, low, *_ in candles:
        if sell and low <= stop:
            return min(stop, o), int(ts)
        if not sell and h >= stop:
            return max(stop, o), int(ts)
    return None


class DryStopsMixin:
    """`bot_loop_start` fills the dry-run stops a closed 1m candle crossed, then hands over."""

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        if self.config.get("runmode") == RunMode.DRY_RUN:
            self.fill_dry_stops(current_time)
        super().bot_loop_start(current_time=current_time, **kwargs)

    def fill_dry_stops(self, now: datetime) -> int:
        """Fill every open dry stop a closed 1m candle crossed; returns how many filled."""
        exchange = getattr(self.dp, "_exchange", None) if self.dp else None
        book = getattr(exchange, "_dry_run_open_orders", None)
        if book is None:
            return 0
        checked = self.__dict__.setdefault("_pf_dry_stop_checked", {})
        last_closed = int(now.timestamp() * 1000) // MINUTE_MS * MINUTE_MS - MINUTE_MS
        filled = 0
        for trade in Trade.get_open_trades():
            for slo in trade.open_sl_orders:
                order = book.get(slo.order_id)
                if not order or order.get("status") != "open":
                    continue
                start = checked.get(
                    slo.order_id, -(-int(order["timestamp"]) // MINUTE_MS) * MINUTE_MS
                )
                if start > last_closed:
                    continue
                candles = self._closed_minutes(exchange, trade.pair, start, last_closed)
                if candles is None:
                    continue
                checked[slo.order_id] = last_closed + MINUTE_MS
                filled += self._fill(exchange, order, trade, candles)
        return filled

    @staticmethod
    def _closed_minutes(exchange, pair: str, start: int, last: int) -> list[list] | None:
        try:
            rows = exchange._api.fetch_ohlcv(pair, "1m", since=start,
                                             limit=(last - start) // MINUTE_MS + 1)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 (retried on the next loop)
            logger.warning("dry-run stops: 1m candles of %s unavailable (%s)", pair, exc)
            return None
        return [r for r in rows if start <= r[0] <= last]

    @staticmethod
    def _fill(exchange, order: dict, trade: Trade, candles: list[list]) -> int:
        stop = float(order.get(exchange._ft_has["stop_price_prop"]) or order["price"])
        hit = stop_fill(stop, sell=order["side"] == "sell", candles=candles)
        if hit is None:
            return 0
        price, ts = hit
        amount = order["amount"]
        order.update({"status": "closed", "filled": amount, "remaining": 0.0,
                      "average": price, "cost": amount * price})  # fmt: skip
        exchange.add_dry_order_fee(trade.pair, order, "taker")
        logger.info("dry-run stop of trade %s %s filled at %s by the 1m candle of %s",
                    trade.id, trade.pair, price, datetime.fromtimestamp(ts / 1000, tz=UTC))  # fmt: skip
        return 1
