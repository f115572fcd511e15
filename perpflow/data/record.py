"""`perpflow record`: order books from ccxt.pro websockets into perpflow's event store.

Per symbol, ccxt.pro's `watch_order_book` keeps a synced book (REST snapshot, buffered diffs,
Binance's `pu` chain). The recorder adds what a research store needs:
- `book` records: the top `levels` levels every `cadence` seconds (wide columns `bid_px_0`,
  `bid_sz_0`, ..., the book's `nonce`), with the exchange time of its last update (`ts_event`)
  and the local time it was sampled (`ts_recv`);
- `book_diffs` records: every diff message as received (`U`, `u`, `pu`, side, price, size), for
  cancel and refill analysis finer than the snapshots (Binance's depthUpdate; Bybit's orderbook
  deltas and snapshots in the same form, see `_bybit_diff`); a break in their `pu` chain (a
  withheld message, a reconnect) is recorded as a `diff chain` gap of stream `diffs`;
- `trades` records: every public trade (Binance: `aggTrade`), id, side, price, amount;
- `book_gaps` records: each stretch without a trustworthy book or trade stream (`stream`), with
  its reason: `sequence` (a broken `pu` chain: ccxt raises, the recorder re-subscribes, ccxt re-syncs from a fresh REST
  snapshot) or `connection` (dropped; reconnect with backoff 0.1 s doubling to 30 s).
Files are written with the store's atomic writes (temp file, then rename) every `flush_seconds`,
so a `kill -9` loses at most one flush interval and never leaves a half-written part; SIGTERM
and Ctrl-C flush first. Buffers are emptied at every flush, so memory stays flat.

Speed (written by hand, as ccxt.pro has no switch for it): on Binance plain depth and trade
events skip ccxt's generic dispatcher, ccxt's per-message datetime formatting is cached per
second, and under load books are sampled as their diffs arrive; see `_fast_dispatch`,
`same_second_iso8601` and `benchmarks/bench_recorder.py` (24,000 messages/s sustained).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import ccxt
import numpy as np
import pandas as pd

from perpflow.data.store import write_events

logger = logging.getLogger(__name__)


@dataclass
class RecordStats:
    snapshots: int = 0
    diffs: int = 0
    trades: int = 0
    resyncs: int = 0
    reconnects: int = 0
    gaps: list[dict] = field(default_factory=list)
    files: int = 0
    lag_ms: list[float] = field(default_factory=list)
    liquidations: int = 0


class BookRecorder:
    """Record books of `symbols` (unified ccxt symbols) from a ccxt.pro exchange."""

    def __init__(self, exchange, store_root: Path, symbols: list[str], *, levels: int = 25,
                 cadence: float = 1.0, flush_seconds: float = 1.0, status_every: float = 30.0,
                 max_backoff: float = 30.0, trades: bool = True):  # fmt: skip
        self.ex, self.root, self.symbols = exchange, Path(store_root), symbols
        self.record_trades = trades
        self.levels, self.cadence, self.flush_seconds = levels, cadence, flush_seconds
        self.status_every, self.max_backoff = status_every, max_backoff
        self.exchange_id = exchange.id
        self.stats = RecordStats()
        self._snaps: list[dict] = []
        self._diffs: dict[
            str, list[tuple[float, dict]]
        ] = {}  # exchange symbol -> (recv ms, message)
        self._trades: list[tuple] = []
        self._gap_since: dict[tuple[str, str], tuple[int, str]] = {}  # (symbol, stream)
        self._ids = {s: exchange.market(s)["id"] for s in symbols}
        self._next_sample: dict[str, float] = {}  # unified symbol -> ms epoch its next snapshot is due
        self._by_id = {v: k for k, v in self._ids.items()}
        exchange.iso8601 = same_second_iso8601(exchange.iso8601)  # every exchange's handlers call it
        self._tap_diffs()

    # --- capture ---------------------------------------------------------------------------
    def _tap_diffs(self) -> None:
        """Keep every raw diff message ccxt.pro handles (wraps this client's own handler)."""
        original = self.ex.handle_order_book

        last_u: dict[str, tuple[int, float]] = {}  # exchange symbol -> (last u, received ms)

        bybit = self.exchange_id == "bybit"

        def tap(client, message):
            # one append per message; exploded into rows at flush time (the hot path stays short)
            raw = message
            if bybit and isinstance(message, dict) and "data" in message:
                message = _bybit_diff(message)
            if isinstance(message, dict) and message.get("e") == "depthUpdate":
                now = time.time() * 1000
                sym = message["s"]
                buf = self._diffs.get(sym)
                if buf is None:
                    buf = self._diffs[sym] = []
                buf.append((now, message))
                prev = last_u.get(sym)
                if prev is not None and message.get("pu") != prev[0]:  # diffs missed in between
                    self.stats.gaps.append({"symbol": sym, "start_ms": int(prev[1]), "end_ms": int(now),
                                            "reason": "diff chain", "stream": "diffs"})  # fmt: skip
                    # snapshots sampled since then lacked the missed update: drop those not yet written
                    self._snaps = [r for r in self._snaps
                                   if r["symbol"] != sym or r["ts_recv"] <= prev[1]]  # fmt: skip
                last_u[sym] = (message["u"], now)
                result = original(client, raw)
                unified = self._by_id.get(sym)
                if unified is not None and now >= self._next_sample.get(unified, 0.0):
                    # a flood keeps ccxt's receive loop busy and the timer late: sample here
                    self._sample_one(unified, now)
                return result
            return original(client, raw)

        self.ex.handle_order_book = tap
        if self.exchange_id == "binance":
            self._fast_dispatch()

    def _fast_dispatch(self) -> None:
        """Route plain `depthUpdate` / `aggTrade` events straight to ccxt.pro's own handlers.

        ccxt.pro's `binance.handle_message` unwraps and checks each message and builds a
        36-entry dispatch table before it picks a handler: about a fifth of the recorder's CPU
        under a flood. An unwrapped event (no `stream`, `data`, `event`, `id`, `status` or
        `error` key) goes to the same handler ccxt would pick; anything else to ccxt's dispatcher."""
        ex, general = self.ex, self.ex.handle_message
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

    def _gap_open(self, symbol: str, reason: str, stream: str = "book") -> None:
        self._gap_since.setdefault((symbol, stream), (int(time.time() * 1000), reason))

    def _gap_close(self, symbol: str, stream: str = "book") -> None:
        if (symbol, stream) in self._gap_since:
            start, reason = self._gap_since.pop((symbol, stream))
            gap = {"symbol": self._ids[symbol], "start_ms": start, "end_ms": int(time.time() * 1000),
                   "reason": reason, "stream": stream}  # fmt: skip
            self.stats.gaps.append(gap)
            logger.warning("%s: %s gap of %.1f s (%s), resumed", symbol, stream,
                           (gap["end_ms"] - start) / 1000, reason)  # fmt: skip

    async def _watch(self, symbol: str, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                await self.ex.watch_order_book(symbol)
                self._gap_close(symbol)
                backoff = 0.1
            except (ccxt.ChecksumError, ccxt.InvalidNonce) as exc:
                self.stats.resyncs += 1
                self._gap_open(symbol, "sequence")
                logger.info("%s: %s; re-syncing from a fresh snapshot", symbol, type(exc).__name__)
            except ccxt.NetworkError as exc:
                self.stats.reconnects += 1
                self._gap_open(symbol, "connection")
                logger.info("%s: connection lost (%s); retry in %.1f s", symbol, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def _watch_trades(self, symbol: str, stop: asyncio.Event) -> None:
        """Every public trade of `symbol` (Binance: the aggTrade stream), kept once each."""
        params = {"name": "aggTrade"} if self.exchange_id == "binance" else {}
        backoff, seen = 0.1, set()
        while not stop.is_set():
            try:
                trades = await self.ex.watch_trades(symbol, params=params)
                self._gap_close(symbol, "trades")
                backoff = 0.1
                recv = time.time() * 1000
                for t in trades:
                    if t["id"] in seen:
                        continue
                    seen.add(t["id"])
                    self._trades.append((self._ids[symbol], t["timestamp"], recv, str(t["id"]), t["side"],
                                         float(t["price"]), float(t["amount"])))  # fmt: skip
                if len(seen) > 100_000:  # ids only need to cover a reconnect's overlap
                    seen = set(list(seen)[-10_000:])
            except ccxt.NetworkError as exc:
                self.stats.reconnects += 1
                self._gap_open(symbol, "connection", "trades")
                logger.info(
                    "%s trades: connection lost (%s); retry in %.1f s", symbol, exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def sample(self, *, due_only: bool = False) -> int:
        """Append the top levels of every synced book (`due_only`: of those whose cadence has
        come round); returns how many were taken."""
        now = time.time() * 1000
        return sum(self._sample_one(sym, now) for sym in self.symbols
                   if not due_only or now >= self._next_sample.get(sym, 0.0))  # fmt: skip

    def _sample_one(self, sym: str, now: float) -> bool:
        """Append the top levels of `sym`'s book if it is synced; True if one was taken."""
        ob = self.ex.orderbooks.get(sym)
        if ob is None or (sym, "book") in self._gap_since or not ob["bids"] or not ob["asks"]:
            return False
        nonce = ob.get("nonce")  # Binance: the last applied update id; ccxt leaves Bybit's unset
        if nonce is None and self.exchange_id == "binance":  # not synced to a snapshot yet
            return False
        row = {"exchange": self.exchange_id, "symbol": self._ids[sym], "ts_event": ob.get("timestamp") or now,
               "ts_recv": now, "nonce": np.nan if nonce is None else nonce}  # fmt: skip
        for side, levels in (("bid", ob["bids"]), ("ask", ob["asks"])):
            top = levels[: self.levels]
            for i in range(self.levels):
                px, sz = (top[i][0], top[i][1]) if i < len(top) else (np.nan, np.nan)
                row[f"{side}_px_{i}"], row[f"{side}_sz_{i}"] = px, sz
        self._snaps.append(row)
        self.stats.lag_ms.append(now - row["ts_event"])
        self.stats.snapshots += 1
        # on the cadence's grid, so sampling at the first message after each due time does not
        # drift; slots missed while the loop was busy are skipped, not made up in a burst
        step = self.cadence * 1000
        due = self._next_sample.get(sym, now) + step
        self._next_sample[sym] = due if due > now else now + step
        return True

    # --- storage ---------------------------------------------------------------------------
    def flush(self) -> int:
        """Write buffered snapshots, diffs and closed gaps; returns the files written."""
        files = 0
        if self._snaps:
            df = pd.DataFrame(self._snaps)
            self._snaps = []
            files += len(write_events(self.root, "book", _times(df), time_col="ts_recv"))
        if self._diffs:
            buffers, self._diffs = self._diffs, {}
            for sym, received in buffers.items():
                d = _diff_rows(sym, received).assign(exchange=self.exchange_id)
                self.stats.diffs += len(d)
                files += len(write_events(self.root, "book_diffs", d, time_col="ts_recv"))
        if self._trades:
            t = pd.DataFrame(self._trades, columns=["symbol", "ts_event", "ts_recv", "id", "side",
                                                    "price", "amount"]).assign(exchange=self.exchange_id)  # fmt: skip
            self._trades = []
            self.stats.trades += len(t)
            files += len(write_events(self.root, "trades", _times(t), time_col="ts_recv"))
        if self.stats.gaps:
            g = pd.DataFrame(self.stats.gaps).assign(exchange=self.exchange_id)
            g["ts_event"], g["ts_recv"] = g["start_ms"], g["end_ms"]
            files += len(write_events(self.root, "book_gaps", _times(g)))
            self.stats.gaps = []
        self.stats.files += files
        if len(self.stats.lag_ms) > 100_000:  # keep the lag sample bounded
            self.stats.lag_ms = self.stats.lag_ms[-10_000:]
        return files

    def status(self, elapsed: float) -> str:
        lag = np.percentile(self.stats.lag_ms[-1000:], 50) if self.stats.lag_ms else float("nan")
        return (f"book: {self.stats.snapshots} snapshots ({self.stats.snapshots / elapsed:.1f}/s), "
                f"{self.stats.diffs} diff levels stored "
                f"({self.stats.diffs / elapsed:.0f}/s), {self.stats.trades} trades, lag p50 {lag:.0f} ms, "
                f"resyncs {self.stats.resyncs}, reconnects {self.stats.reconnects}, files {self.stats.files}")  # fmt: skip

    async def run(self, stop: asyncio.Event) -> RecordStats:
        """Record until `stop` is set; the last buffers are flushed before returning."""
        watchers = [asyncio.ensure_future(self._watch(s, stop)) for s in self.symbols]
        if self.record_trades:
            watchers += [asyncio.ensure_future(self._watch_trades(s, stop)) for s in self.symbols]
        t0 = last_flush = last_status = time.monotonic()
        try:
            while not stop.is_set():
                for w in watchers:
                    if w.done() and w.exception() is not None:
                        raise w.exception()
                self.sample(due_only=True)  # books that moved were sampled as their diffs came
                now = time.monotonic()
                if now - last_flush >= self.flush_seconds:
                    self.flush()
                    last_flush = now
                if now - last_status >= self.status_every:
                    logger.info(self.status(now - t0))
                    last_status = now
                soonest = min(self._next_sample.values(), default=time.time() * 1000 + self.cadence * 1000)
                wait = min(self.cadence, self.flush_seconds, max(0.02, soonest / 1000 - time.time()))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass
        finally:
            for w in watchers:
                w.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            self.flush()
        logger.info(self.status(max(time.monotonic() - t0, 1e-9)))
        return self.stats


def _bybit_diff(message: dict) -> dict:
    """A Bybit `orderbook.<depth>.<SYMBOL>` message in Binance's diff form: `U` = `u` = Bybit's
    update id, `pu` = `u` - 1 for a delta (Bybit numbers deltas consecutively) and -1 for a
    snapshot (it replaces the book; after a first one it also marks a broken chain)."""
    d = message["data"]
    u = d["u"]
    return {"e": "depthUpdate", "s": d["s"], "E": message.get("ts") or message.get("cts"), "U": u, "u": u,
            "pu": u - 1 if message.get("type") == "delta" else -1, "b": d.get("b", []), "a": d.get("a", [])}  # fmt: skip


def _diff_rows(symbol: str, received: list[tuple[float, dict]]) -> pd.DataFrame:
    """One row per level of each diff message of `symbol`: symbol, ts_event (E), ts_recv, U, u,
    pu, side, price, size. Flattened with C-level chains and one Arrow string-to-float cast per
    side: this runs every flush on tens of thousands of messages."""
    import pyarrow as pa

    msgs = [m for _, m in received]
    head = {"ts_event": pd.to_datetime(np.array([m["E"] for m in msgs], dtype="int64"), unit="ms", utc=True),
            "ts_recv": pd.to_datetime(np.array([t for t, _ in received]), unit="ms", utc=True),
            "U": np.array([m["U"] for m in msgs], dtype="int64"),
            "u": np.array([m["u"] for m in msgs], dtype="int64"),
            "pu": np.array([m.get("pu", -1) for m in msgs], dtype="int64")}  # fmt: skip
    parts = []
    for side, key in (("bid", "b"), ("ask", "a")):
        counts = [len(m[key]) for m in msgs]
        flat = list(chain.from_iterable(chain.from_iterable(m[key] for m in msgs)))
        if not flat:
            continue
        pq = pa.array(flat, type=pa.string()).cast(pa.float64()).to_numpy().reshape(-1, 2)
        rows = np.repeat(np.arange(len(msgs)), counts)
        parts.append(pd.DataFrame({"symbol": symbol, **{c: v[rows] for c, v in head.items()}, "side": side,
                                   "price": pq[:, 0], "size": pq[:, 1]}))  # fmt: skip
    return pd.concat(parts, ignore_index=True).sort_values(
        "ts_recv", kind="stable", ignore_index=True
    )


def _times(df: pd.DataFrame) -> pd.DataFrame:
    """ms epoch columns `ts_event` / `ts_recv` as UTC timestamps (the store's form)."""
    out = df.copy()
    for c in ("ts_event", "ts_recv"):
        out[c] = pd.to_datetime(out[c].astype("float64"), unit="ms", utc=True)
    return out


async def run_recorder(exchange_id: str, store_root: Path, symbols: list[str], *,
                       venue_url: str | None = None, duration: float | None = None,
                       levels: int = 25, cadence: float = 1.0, flush_seconds: float = 1.0,
                       status_every: float = 30.0, liquidations: bool = False) -> RecordStats:  # fmt: skip
    """Build the ccxt.pro client (the local exchange when `venue_url` is given), record for
    `duration` seconds or until SIGTERM/Ctrl-C, flush and close. `liquidations`: the same
    client also runs `perpflow.data.collect.LiquidationCollector` for the symbols."""
    import signal

    from perpflow.data.collect import pro_client

    ex = pro_client(exchange_id, venue_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        backoff = 0.5
        while True:  # the exchange may not be reachable yet: retry with backoff, like a drop
            try:
                await ex.load_markets()
                break
            except ccxt.NetworkError as exc:
                if stop.is_set():
                    raise SystemExit(f"{exchange_id}: not reachable ({exc}); stopped") from None
                logger.warning("%s not reachable (%s); retry in %.1f s", exchange_id, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        # the market list is thousands of long-lived dicts: keep them out of every collection
        # pass (a recorder allocates per message, so collections run constantly under load)
        gc.freeze()
        unknown = [s for s in symbols if s not in ex.markets]
        if unknown:
            raise SystemExit(f"{exchange_id}: unknown symbol(s) {unknown} (use unified symbols, "
                             "e.g. BTC/USDT:USDT)")  # fmt: skip
        rec = BookRecorder(ex, store_root, symbols, levels=levels, cadence=cadence,
                           flush_seconds=flush_seconds, status_every=status_every)  # fmt: skip
        task = asyncio.ensure_future(rec.run(stop))
        collector = None
        if liquidations:
            from perpflow.data.collect import LiquidationCollector

            collector = LiquidationCollector(ex, store_root, symbols=symbols)
            liq_task = asyncio.ensure_future(collector.run(stop))
        if duration is not None:
            loop.call_later(duration, stop.set)
        stats = await task
        if collector is not None:
            stats.liquidations = (await liq_task).stored
        return stats
    finally:
        await ex.close()


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
