"""What the recorder needs around ccxt.pro: rows built from what ccxt hands it (Binance-form diff
messages, Bybit's deltas in that form, their rows per level, Binance's aggTrades tapped raw and
their rows, store timestamps), ccxt's
per-message datetime formatting cached per second, a direct dispatch of Binance's plain events,
and market loading that waits for an exchange not yet reachable. The recorder's hot path."""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import chain
from operator import itemgetter

import ccxt
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def bybit_diff(message: dict) -> dict:
    """A Bybit `orderbook.<depth>.<SYMBOL>` message in Binance's diff form: `U` = `u` = Bybit's
    update id, `pu` = `u` - 1 for a delta (Bybit numbers deltas consecutively) and -1 for a
    snapshot (it replaces the book; after a first one it also marks a broken chain)."""
    d = message["data"]
    u = d["u"]
    return {"e": "depthUpdate", "s": d["s"], "E": message.get("ts") or message.get("cts"), "U": u, "u": u,
            "pu": u - 1 if message.get("type") == "delta" else -1, "b": d.get("b", []), "a": d.get("a", [])}  # fmt: skip


def diff_rows(received: list[tuple[float, dict]]) -> pd.DataFrame:
    """One row per level of each diff message (any mix of symbols, each its own `s`): symbol,
    ts_event (E), ts_recv, U, u, pu, side, price, size, in receive order (a message's bids, then
    its asks). Flattened with C-level chains, one Arrow string-to-float cast, and the per-message
    columns repeated per row by index: this runs every flush on tens of thousands of messages."""
    import pyarrow as pa

    msgs, k = [m for _, m in received], len(received)
    nb = np.fromiter(map(len, map(itemgetter("b"), msgs)), "int64", k)
    n = nb + np.fromiter(map(len, map(itemgetter("a"), msgs)), "int64", k)
    cols = ["symbol", "ts_event", "ts_recv", "U", "u", "pu", "side", "price", "size"]
    flat = list(chain.from_iterable(chain.from_iterable(chain(m["b"], m["a"]) for m in msgs)))
    if not flat:  # messages that changed no level (an empty snapshot)
        return pd.DataFrame(columns=cols)
    pq = pa.array(flat, type=pa.string()).cast(pa.float64()).to_numpy().reshape(-1, 2)
    rows = np.repeat(np.arange(k), n)
    bid = np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n) < nb[rows]
    ids = np.array(list(map(itemgetter("E", "U", "u"), msgs)), dtype="int64")[rows]
    codes, symbols = pd.factorize(np.fromiter(map(itemgetter("s"), msgs), object, k))
    return pd.DataFrame({
        "symbol": pd.array(symbols, dtype="str").take(codes[rows]),
        "ts_event": pd.to_datetime(ids[:, 0], unit="ms", utc=True),
        "ts_recv": pd.to_datetime(np.fromiter(map(itemgetter(0), received), "float64", k), unit="ms", utc=True)[rows],
        "U": ids[:, 1], "u": ids[:, 2],
        "pu": np.array([m.get("pu", -1) for m in msgs], dtype="int64")[rows],
        "side": pd.array(["ask", "bid"], dtype="str").take(bid.astype("int64")),
        "price": pq[:, 0], "size": pq[:, 1]})  # fmt: skip


def agg_trade_rows(received: list[tuple[float, dict]]) -> pd.DataFrame:
    """Binance `aggTrade` messages as `trades` rows (symbol, ts_event, ts_recv in ms, id, side,
    price, amount), read as ccxt's `binance.parse_trade` reads them: id `a`, time `T`, the taker
    sold when the buyer was the maker (`m`), price `p`, amount `q`. Vectorised: ccxt's per-trade
    parse (Precise string math) was a fifth of the recorder's CPU under a flood."""
    import pyarrow as pa

    msgs = [m for _, m in received]
    num = pa.array([x for m in msgs for x in (m["p"], m["q"])], type=pa.string())
    pq = num.cast(pa.float64()).to_numpy().reshape(-1, 2)
    return pd.DataFrame({"symbol": [m["s"] for m in msgs],
                         "ts_event": np.array([m["T"] for m in msgs], dtype="float64"),
                         "ts_recv": np.array([t for t, _ in received], dtype="float64"),
                         "id": [str(m["a"]) for m in msgs],
                         "side": np.where(np.array([m["m"] for m in msgs], dtype=bool), "sell", "buy"),
                         "price": pq[:, 0], "amount": pq[:, 1]})  # fmt: skip


def tap_agg_trades(ex, sink: list, ids: dict) -> None:
    """Keep Binance's `aggTrade` messages of the markets `ids` (exchange id -> unified symbol)
    raw in `sink` as (receive ms, message), for `agg_trade_rows` at flush time, instead of
    ccxt.pro parsing each into a trade: the `watch_trades` waiting for the symbol is still woken
    (with an empty list: it only tells the recorder the stream is alive), and a dropped
    connection still raises there. Other trade messages go to ccxt's own handler. Install before
    `fast_dispatch`, which routes aggTrades to `ex.handle_trade`."""
    from ccxt.async_support.base.ws.cache import ArrayCache

    original, nothing = ex.handle_trade, ArrayCache()  # stays empty: `getLimit` returns 0

    def handle_trade(client, message):
        if type(message) is dict and message.get("e") == "aggTrade":
            unified = ids.get(message.get("s"))
            if unified is not None:
                sink.append((time.time() * 1000, message))
                client.resolve(nothing, "trade::" + unified)
                return None
        return original(client, message)

    ex.handle_trade = handle_trade


def store_times(df: pd.DataFrame) -> pd.DataFrame:
    """ms epoch columns `ts_event` / `ts_recv` as UTC timestamps (the store's form)."""
    out = df.copy()
    for c in ("ts_event", "ts_recv"):
        out[c] = pd.to_datetime(out[c].astype("float64"), unit="ms", utc=True)
    return out


def same_second_iso8601(original):
    """ccxt's `iso8601` (ms epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ"), formatting the date and time
    once per second: ccxt calls it for every book update and trade, and building a datetime
    each time was ~15% of the recorder's CPU under a flood. Anything but a plain non-negative
    int goes to `original`."""
    last = [-1, ""]  # second, "YYYY-MM-DDTHH:MM:SS"

    def iso8601(timestamp=None):
        if type(timestamp) is not int or not 0 <= timestamp <= 8_640_000_000_000_000:
            return original(timestamp)
        sec, ms = divmod(timestamp, 1000)
        if sec != last[0]:
            whole = original(sec * 1000)
            if whole is None:  # beyond what a datetime holds: ccxt's answer
                return None
            last[0], last[1] = sec, whole[:-5]
        return f"{last[1]}.{ms:03d}Z"

    return iso8601


def fast_dispatch(ex) -> None:
    """Route plain `depthUpdate` / `aggTrade` events straight to ccxt.pro's own handlers.

    ccxt.pro's `binance.handle_message` unwraps and checks each message and builds a
    36-entry dispatch table before it picks a handler: about a fifth of the recorder's CPU
    under a flood. An unwrapped event (no `stream`, `data`, `event`, `id`, `status` or
    `error` key) goes to the same handler ccxt would pick; anything else to ccxt's dispatcher.
    Each diff goes into ccxt's book as ccxt's `handle_order_book_message` puts it, minus its
    `safe_*` calls (Binance sends ids and times as integers, every level as two number strings).
    """
    general = ex.handle_message
    by_event = {
        "depthUpdate": ex.handle_order_book,
        "aggTrade": ex.handle_trade,
        "trade": ex.handle_trade,
    }
    wrapped = frozenset(("stream", "data", "event", "id", "status", "error"))

    def handle_message(client, message):
        if type(message) is dict:
            handler = by_event.get(message.get("e"))
            if handler is not None and wrapped.isdisjoint(message):
                return handler(client, message)
        return general(client, message)

    ex.handle_message = handle_message

    def handle_deltas(bookside, deltas):  # ccxt's, without two safe_float calls per level
        store = bookside.storeArray
        for price, size in deltas:
            store([float(price), float(size)])

    def handle_order_book_message(client, message, orderbook):  # ccxt's, minus its safe_* calls
        handle_deltas(orderbook["asks"], message.get("a") or [])
        handle_deltas(orderbook["bids"], message.get("b") or [])
        orderbook["nonce"], ts = message.get("u"), message.get("E")
        orderbook["timestamp"], orderbook["datetime"] = ts, ex.iso8601(ts)
        return orderbook

    ex.handle_deltas, ex.handle_order_book_message = handle_deltas, handle_order_book_message


class Reconnects:
    """Notices a websocket connection that ccxt.pro replaced without raising to the caller: when
    the close arrives right after the message a watch was waiting for, that watch returns
    normally and the next one quietly reconnects, so what was sent in between is lost with no
    `NetworkError` to say so. `changed()` is True once after each such replacement (or after a
    drop that did raise: callers only act on it when no gap is open)."""

    def __init__(self, ex):
        self.ex = ex
        self._seen: dict[str, object] = {}  # url -> the connection seen last

    def changed(self) -> bool:
        out = False
        for url, client in list((getattr(self.ex, "clients", None) or {}).items()):
            conn = getattr(client, "connection", None)
            if conn is None:
                continue
            prev = self._seen.get(url)
            out |= prev is not None and prev is not conn
            self._seen[url] = conn
        return out


async def load_markets(ex, stop: asyncio.Event) -> None:
    """`ex.load_markets()`, retried with back-off (0.5 s doubling to 30 s) while the exchange is
    not reachable; SystemExit naming it if `stop` is set meanwhile."""
    backoff = 0.5
    while True:
        try:
            await ex.load_markets()
            return
        except ccxt.NetworkError as exc:
            if stop.is_set():
                raise SystemExit(f"{ex.id}: not reachable ({exc}); stopped") from None
            logger.warning("%s not reachable (%s); retry in %.1f s", ex.id, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
