"""How `BookRecorder` captures diff messages: every one ccxt.pro handles is kept (as its JSON
text, `record_ccxt.Messages`) before ccxt applies it, its `pu` chain is checked (a break is a
`diff chain` gap of stream `diffs`, and the snapshots sampled since the last good message are
dropped), and a book whose cadence has come round is sampled right after the diff that moved
it (a flood keeps ccxt's receive loop busy and the recorder's timer late). On Binance the plain
diff and aggTrade texts come straight from the socket (`record_wire.tap_wire`); wrapped ones
and Bybit's deltas (in Binance's form, `record_ccxt.bybit_diff`) through ccxt's dispatcher.

What is raised while sampling inside ccxt's receive loop would stop that loop without a word;
it is kept in `BookRecorder.failed` instead, and the recorder's run loop raises it.
"""

from __future__ import annotations

import time

import orjson

from perpflow.data.record_ccxt import (
    bybit_diff,
    fast_dispatch,
    lean_diffs,
    tap_agg_trades,
)
from perpflow.data.record_wire import tap_wire


def tap_diffs(rec) -> None:
    """Install the capture on `rec`'s exchange (wraps its `handle_order_book`; on Binance over
    `lean_diffs`, and with `tap_agg_trades`, `fast_dispatch` and `tap_wire`)."""
    ex = rec.ex
    if rec.exchange_id == "binance":
        lean_diffs(ex)
    original = ex.handle_order_book
    last_u: dict[str, tuple[int, float]] = {}  # exchange symbol -> (last u, received ms)
    bybit = rec.exchange_id == "bybit"

    def diff(client, text, message, raw=None):
        # one append per message; exploded into rows at flush time (the hot path stays short)
        now = time.time() * 1000
        sym, buf = message["s"], rec.buf
        buf.diffs.times.append(now)
        buf.diffs.texts.append(text)
        prev = last_u.get(sym)
        if prev is not None and message.get("pu") != prev[0]:  # diffs missed in between
            buf.gaps.append({"symbol": sym, "start_ms": int(prev[1]), "end_ms": int(now),
                             "reason": "diff chain", "stream": "diffs"})  # fmt: skip
            # snapshots sampled since then lacked the missed update: drop those not yet written
            buf.snaps = [r for r in buf.snaps if r["symbol"] != sym or r["ts_recv"] <= prev[1]]
        last_u[sym] = (message["u"], now)
        result = original(client, message if raw is None else raw)
        unified = rec._by_id.get(sym)
        if unified is not None:
            rec._last_change[unified] = now
            if now >= rec._next_sample.get(unified, 0.0):
                try:
                    rec._sample_one(unified, now)
                except Exception as exc:  # e.g. a book level that is not a number
                    rec.failed = rec.failed or exc
        return result

    def tap(client, message):  # what ccxt's dispatcher hands over (wrapped, Bybit's)
        raw = message
        if bybit and isinstance(message, dict) and "data" in message:
            message = bybit_diff(message)
        if isinstance(message, dict) and message.get("e") == "depthUpdate":
            return diff(client, orjson.dumps(message).decode(), message, raw)
        return original(client, raw)

    ex.handle_order_book = tap
    if rec.exchange_id == "binance":
        wire = {"depthUpdate": diff}
        if rec.record_trades:
            wire.update(tap_agg_trades(ex, rec.buf.aggs, rec._by_id))
        fast_dispatch(ex)
        tap_wire(ex, wire)
