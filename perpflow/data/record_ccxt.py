"""What the recorder needs around ccxt.pro: the raw messages it keeps (Binance-form diff messages,
Bybit's deltas in that form, Binance's aggTrades tapped raw), store timestamps, ccxt's Binance
diff handling without its per-message overhead, ccxt's per-message datetime formatting cached
per second, a direct dispatch of Binance's plain events, and market loading that waits for an
exchange not yet reachable. The recorder's hot path."""

from __future__ import annotations

import asyncio
import logging
import time

import ccxt
import pandas as pd

from perpflow.data.record_book import StagedAsks, StagedBids, staged_order_book
from perpflow.data.record_wire import WRAPPED

logger = logging.getLogger(__name__)
BOOK_WAKE = 0.25  # s: a book's watch is woken at most this often by the diffs that move it


def bybit_diff(message: dict) -> dict:
    """A Bybit `orderbook.<depth>.<SYMBOL>` message in Binance's diff form: `U` = `u` = Bybit's
    update id, `pu` = `u` - 1 for a delta (Bybit numbers deltas consecutively) and -1 for a
    snapshot (it replaces the book; after a first one it also marks a broken chain)."""
    d = message["data"]
    u = d["u"]
    return {"e": "depthUpdate", "s": d["s"], "E": message.get("ts") or message.get("cts"), "U": u, "u": u,
            "pu": u - 1 if message.get("type") == "delta" else -1, "b": d.get("b", []), "a": d.get("a", [])}  # fmt: skip


class Messages:
    """Raw messages kept as received until a flush: receive times (ms epoch) and JSON texts in
    two plain lists (strings and floats: nothing for the garbage collector to walk, unlike
    parsed messages held for a second). `take()` hands them over and starts empty lists (the
    object stays the same: the taps hold it)."""

    __slots__ = ("times", "texts")

    def __init__(self, times: list[float] | None = None, texts: list[str] | None = None):
        self.times, self.texts = times or [], texts or []

    def __len__(self) -> int:
        return len(self.texts)

    def take(self) -> Messages:
        out = Messages(self.times, self.texts)
        self.times, self.texts = [], []
        return out


class AggTrades:
    """Binance aggTrade messages kept as columns until a flush: receive times (ms epoch) and
    the fields a trade is read from (`s`, `T`, `a`, `p`, `q`, `m`) as they came, in plain lists
    (numbers, strings, booleans: nothing for the garbage collector to walk; a missing field or
    a wrong type is refused at the flush, `record_arrow.trade_table`). `take()` hands them over
    and starts empty lists (the object stays the same: the taps hold it)."""

    __slots__ = ("times", "s", "T", "a", "p", "q", "m")

    def __init__(self, *columns: list):
        for name, col in zip(self.__slots__, columns or [[] for _ in self.__slots__], strict=True):
            setattr(self, name, col)

    def __len__(self) -> int:
        return len(self.times)

    def add(self, received_ms: float, message: dict) -> None:
        get = message.get
        self.times.append(received_ms)
        self.s.append(get("s"))
        self.T.append(get("T"))
        self.a.append(get("a"))
        self.p.append(get("p"))
        self.q.append(get("q"))
        self.m.append(get("m"))

    def take(self) -> AggTrades:
        out = AggTrades(*(getattr(self, n) for n in self.__slots__))
        for name in self.__slots__:
            setattr(self, name, [])
        return out


def tap_agg_trades(ex, sink: AggTrades, ids: dict) -> dict:
    """Keep Binance's `aggTrade` messages of the markets `ids` (exchange id -> unified symbol)
    as columns in `sink`, for `record_arrow.trade_table` at flush time, instead of ccxt.pro
    parsing each into a trade: the `watch_trades` waiting for the symbol is still woken (with an
    empty list: it only tells the recorder the stream is alive), and a dropped connection still
    raises there.
    Other trade messages go to ccxt's own handler. Returns the `tap_wire` handler of plain
    aggTrade texts; install before `fast_dispatch`, which routes aggTrades to `ex.handle_trade`."""
    from ccxt.async_support.base.ws.cache import ArrayCache

    original, nothing = ex.handle_trade, ArrayCache()  # stays empty: `getLimit` returns 0

    def on_text(client, text, message):  # a plain aggTrade, from the socket (`tap_wire`)
        unified = ids.get(message.get("s"))
        if unified is None:
            return original(client, message)
        sink.add(time.time() * 1000, message)
        client.resolve(nothing, "trade::" + unified)
        return None

    def handle_trade(client, message):  # what ccxt's dispatcher hands over
        if type(message) is dict and message.get("e") == "aggTrade":
            return on_text(client, None, message)
        return original(client, message)

    ex.handle_trade = handle_trade
    return {"aggTrade": on_text}


def lean_diffs(ex) -> None:
    """Binance USDT-M diff messages through ccxt.pro's `binance.handle_order_book` (4.5.90)
    logic without its per-message overhead (`safe_*` calls, the url test, a market lookup per
    message: a tenth of the recorder's CPU under a flood): an unknown book is ignored, a book
    not yet synced buffers the message (ccxt replays it after the REST snapshot), a message
    older than the book is dropped, one continuing it (`U` <= nonce or `pu` == nonce) is
    applied and resolves the watch (at most every `BOOK_WAKE` seconds per book: the recorder's
    watch only learns that the book is live; waking it per diff, and ccxt's `limit()` on each
    return, cost more than the diffs themselves), and a broken chain raises ccxt's `ChecksumError` into the
    watch after dropping the book and its subscription, so `watch_order_book` re-syncs. Spot
    streams, messages without integer `U`, `u` and `pu` and every other case go to ccxt's
    method (`tests/data/test_recorder_speed.py` holds the two to the same outcomes)."""
    general, futures, woken = ex.handle_order_book, {}, {}  # futures: url -> not a spot url

    def handle_order_book(client, message):
        U, u, pu = message.get("U"), message.get("u"), message.get("pu")  # noqa: N806
        url = client.url
        if url not in futures:
            futures[url] = not ex.is_spot_url(client)
        if not (type(U) is type(u) is type(pu) is int and futures[url]):
            return general(client, message)
        symbol = ex.safe_market(message.get("s"), None, None, "swap")["symbol"]
        orderbook = ex.orderbooks.get(symbol)
        if orderbook is None:  # before the subscription set it up: ccxt drops it too
            return None
        nonce = orderbook["nonce"]
        if type(nonce) is not int:
            return general(client, message)  # not synced yet (None: buffered) or unusual
        if u < nonce:  # older than the book
            return None
        try:
            if U <= nonce or pu == nonce:
                ex.handle_order_book_message(client, message, orderbook)
                now = time.monotonic()
                if nonce <= orderbook["nonce"] and now >= woken.get(symbol, 0.0):
                    woken[symbol] = now + BOOK_WAKE
                    client.resolve(orderbook, "orderbook::" + symbol)
            elif ex.handle_option("watchOrderBook", "checksum", True) is True:
                raise ccxt.ChecksumError(ex.id + " " + ex.orderbook_checksum_message(symbol))
        except Exception as e:
            _drop_book(ex, client, symbol, e)
        return None

    ex.handle_order_book = handle_order_book


def _drop_book(ex, client, symbol: str, error: Exception) -> None:
    """ccxt's answer to a book it cannot continue: drop it and its subscription and raise
    `error` into the watch, which subscribes again (a fresh REST snapshot)."""
    message_hash = "orderbook::" + symbol
    if symbol in ex.orderbooks:
        del ex.orderbooks[symbol]
    if message_hash in client.subscriptions:
        del client.subscriptions[message_hash]
    client.reject(error, message_hash)


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
    `safe_*` calls (Binance sends ids and times as integers, every level as two number strings),
    its levels staged on books made from now on (`record_book.staged_order_book`; a book made
    before gets them one by one, as ccxt does), its `datetime` formatted once per exchange time;
    and ccxt's per-message market lookup is cached (`cached_markets`).
    """
    general = ex.handle_message
    by_event = {
        "depthUpdate": ex.handle_order_book,
        "aggTrade": ex.handle_trade,
        "trade": ex.handle_trade,
    }

    def handle_message(client, message):
        if type(message) is dict:
            handler = by_event.get(message.get("e"))
            if handler is not None and WRAPPED.isdisjoint(message):
                return handler(client, message)
        return general(client, message)

    ex.handle_message = handle_message
    ex.order_book = staged_order_book  # diff levels staged, applied when read (`record_book`)

    last = [None, None]  # the last exchange time formatted, and its text

    def handle_order_book_message(client, message, orderbook):  # ccxt's, levels staged
        asks, bids = orderbook["asks"], orderbook["bids"]
        if type(asks) is StagedAsks and type(bids) is StagedBids:
            asks.stage(message.get("a") or ())
            bids.stage(message.get("b") or ())
        else:
            _store(asks, message.get("a"))
            _store(bids, message.get("b"))
        orderbook["nonce"], ts = message.get("u"), message.get("E")
        if ts != last[0] or type(ts) is not int:
            last[0], last[1] = ts, ex.iso8601(ts)
        orderbook["timestamp"], orderbook["datetime"] = ts, last[1]
        return orderbook

    ex.handle_order_book_message = handle_order_book_message
    cached_markets(ex)


def cached_markets(ex) -> None:
    """ccxt's `safe_market(market_id, None, None, market_type)` (every handler's lookup of a
    message's market, about a tenth of the recorder's CPU under a flood) answered from a dict
    for ids in the exchange's markets; emptied when ccxt loads markets again (a new
    `markets_by_id`). Other calls go to ccxt's method."""
    original, cache, source = ex.safe_market, {}, [None]

    def safe_market(marketId=None, market=None, delimiter=None, marketType=None):  # noqa: N803
        if market is not None or delimiter is not None or type(marketId) is not str:
            return original(marketId, market, delimiter, marketType)
        by_id = ex.markets_by_id
        if by_id is not source[0]:
            cache.clear()
            source[0] = by_id
        hit = cache.get((marketId, marketType))
        if hit is None:
            hit = original(marketId, None, None, marketType)
            if by_id is not None and marketId in by_id:
                cache[(marketId, marketType)] = hit
        return hit

    ex.safe_market = safe_market


def _store(side, levels: list | None) -> None:
    """A diff's levels onto a book side that is not staged (`record_book`), one by one."""
    for price, size in levels or ():
        side.storeArray([float(price), float(size)])


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
