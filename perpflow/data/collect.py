"""Liquidation collector: ccxt.pro `watch_liquidations*` into perpflow's event store.

Reads a ccxt.pro exchange (Binance, Bybit, OKX: whichever has `watchLiquidations`), writes
`liquidations` records (see `perpflow.data.liquidations`) and `liquidation_gaps` records (when the
stream was down, so features never mistake a gap for calm).

Two things ccxt.pro leaves to the caller, done here:
- **bursts**: with `newUpdates` a watch call returns only the message that woke it, so events
  that arrive together would be lost from the return value. The collector reads ccxt's own
  liquidation cache (`exchange.liquidations`) after every wake-up and keeps what it has not seen.
- **drops**: a closed connection raises `NetworkError`; the collector logs it, records the gap,
  backs off (0.1 s doubling to 30 s) and re-subscribes. A close that came right after the
  message a watch was waiting for raises nothing (ccxt.pro reconnects on the next watch): the
  collector notices the replaced connection (`record_ccxt.Reconnects`) and records that gap too. Events are deduplicated on
  (symbol, time, side, price, qty) (`liquidation_key`), so a replayed
  message is never stored twice.
- **the disk**: the store is checked writable at start; events and gaps stay in memory until
  written (`perpflow.data.durable.DurableWriter`: retried with back-off, logged as an error),
  coverage is extended only once every event before it is on disk, and what could not be
  written is counted (`CollectStats.unwritten`) and logged at exit.
Public liquidation streams have no history endpoint, so events sent while disconnected cannot be
recovered; the gap record is the honest answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import ccxt
import pandas as pd

from perpflow.data.durable import DurableWriter, check_writable
from perpflow.data.record_ccxt import Reconnects
from perpflow.data.store import write_coverage

logger = logging.getLogger(__name__)
SEEN_LIMIT = 200_000
REPORT_SECONDS = 60.0  # a progress line this often while collecting
LIVENESS_SLACK_MS = 1000  # how long a closed connection may still look open to us


@dataclass
class CollectStats:
    """What a collector run did."""

    stored: int = 0
    duplicates: int = 0
    reconnects: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    unwritten: int = 0  # events that could not be written


def liquidation_key(record: dict) -> tuple:
    """Identity of one liquidation record (exchange, symbol, exchange time, side, price, qty),
    what the collectors dedupe on: the store schema's own (`schema_for("liquidations")`), so a
    live duplicate and a stored one are the same event."""
    from perpflow.data.schemas import schema_for

    return schema_for("liquidations").identity(record)


def _record(liq: dict, exchange_id: str, recv_ms: int) -> dict | None:
    info = liq.get("info") or {}
    symbol = info.get("s") or liq.get("symbol")
    side = (liq.get("side") or info.get("S") or "").lower()
    price, qty, ts = liq.get("price"), liq.get("contracts"), liq.get("timestamp")
    if not symbol or side not in ("buy", "sell") or not price or not qty or ts is None:
        logger.warning("skipping malformed liquidation from %s: %s", exchange_id, info or liq)
        return None
    qty = float(qty) * float(liq.get("contractSize") or 1.0)
    return {"exchange": exchange_id, "symbol": str(symbol), "side": side, "price": float(price),
            "qty": qty, "notional": float(price) * qty, "ts_event": int(ts), "ts_recv": recv_ms}  # fmt: skip


class LiquidationCollector:
    """Watch liquidations on `exchange` for `symbols` (None/[] = the all-market stream where the
    exchange has one) and write them to `store_root` (checked writable here), flushing every
    `flush_seconds` through `writer` (default: a `DurableWriter` on the store)."""

    def __init__(self, exchange, store_root: Path, *, symbols: list[str] | None = None,
                 flush_seconds: float = 5.0, max_backoff: float = 30.0,
                 writer: DurableWriter | None = None):  # fmt: skip
        self.ex = exchange
        self.root = check_writable(store_root)
        self.writer = writer or DurableWriter(self.root)
        self.symbols = list(symbols or [])
        self.flush_seconds = flush_seconds
        self.max_backoff = max_backoff
        self.stats = CollectStats()
        self._seen: set[tuple] = set()
        self._seen_order: deque[tuple] = deque()
        self._buffer: list[dict] = []
        self._gap_start: int | None = None
        self._last_ok = int(time.time() * 1000)  # coverage is known up to here
        self._segment_start: int | None = self._last_ok  # start of the current covered stretch
        self._last_flush = self._last_report = time.monotonic()
        self._reconnects = Reconnects(exchange)
        exchange.options["liquidationsLimit"] = max(
            100_000, int(exchange.options.get("liquidationsLimit") or 0)
        )  # ccxt's cache must hold a whole burst between two wake-ups
        if not (exchange.has.get("watchLiquidationsForSymbols") or exchange.has.get(
                "watchLiquidations")):  # fmt: skip
            raise ValueError(f"{exchange.id} has no public liquidation stream in ccxt.pro")
        if not self.symbols and not exchange.has.get("watchLiquidationsForSymbols"):
            raise ValueError(f"{exchange.id}: name the symbols to watch (no all-market stream)")

    async def _watch_once(self) -> None:
        if self.ex.has.get("watchLiquidationsForSymbols"):
            await self.ex.watch_liquidations_for_symbols(self.symbols)
        else:
            await self.ex.watch_liquidations(self.symbols[0])

    def _take_new(self, recv_ms: int) -> None:
        for liq in list(getattr(self.ex, "liquidations", None) or []):
            rec = _record(liq, self.ex.id, recv_ms)
            if rec is None:
                continue
            key = liquidation_key(rec)
            if key in self._seen:
                self.stats.duplicates += 1
                continue
            self._seen.add(key)
            self._seen_order.append(key)
            if len(self._seen_order) > SEEN_LIMIT:
                self._seen.discard(self._seen_order.popleft())
            self._buffer.append(rec)
        # ccxt's cache is ours to drain: what we took is not offered again
        if getattr(self.ex, "liquidations", None) is not None:
            self.ex.liquidations.clear()

    def flush(self, *, force: bool = False) -> int:
        """Queue buffered events on the writer and write what the store will take; the covered
        stretch is extended only when nothing before it is still waiting. Returns the events
        written."""
        if self._buffer:
            df = pd.DataFrame(self._buffer)
            for col in ("ts_event", "ts_recv"):
                df[col] = pd.to_datetime(df[col], unit="ms", utc=True)
            self.writer.add("liquidations", df)
            self._buffer = []
        before = self.writer.stored["liquidations"]
        self.writer.write_due(force=force)
        n = self.writer.stored["liquidations"] - before
        self.stats.stored += n
        if not self.writer.pending:
            self._write_coverage()
        self._last_flush = time.monotonic()
        if self._last_flush - self._last_report >= REPORT_SECONDS:
            self._last_report = self._last_flush
            logger.info("%s liquidations: %d stored, %d duplicates dropped, %d reconnects",
                        self.ex.id, self.stats.stored, self.stats.duplicates,
                        self.stats.reconnects)  # fmt: skip
        return n

    def _write_coverage(self) -> None:
        if self._segment_start is None or self._last_ok <= self._segment_start:
            return
        try:
            write_coverage(self.root, "liquidation", self.ex.id,
                           pd.Timestamp(self._segment_start, unit="ms", tz="UTC"),
                           pd.Timestamp(self._last_ok, unit="ms", tz="UTC"))  # fmt: skip
        except OSError as exc:  # extended again at the next flush; never claimed before its events
            logger.error("%s: liquidation coverage not written (%s); retried at the next flush",
                         self.root, exc)  # fmt: skip

    def _write_gap(self, start: int, end: int) -> None:
        self.stats.gaps.append((start, end))
        gap = pd.DataFrame({
            "exchange": [self.ex.id], "symbol": ["ALL"],
            "ts_event": pd.to_datetime([start], unit="ms", utc=True),
            "ts_recv": pd.to_datetime([end], unit="ms", utc=True),
            "gap_end": pd.to_datetime([end], unit="ms", utc=True),
        })  # fmt: skip
        self.writer.add("liquidation_gaps", gap)
        self.writer.write_due()

    def _connected(self) -> bool:
        """Is a websocket to the exchange open right now (quiet but live counts as covered)?"""
        clients = getattr(self.ex, "clients", None) or {}
        return any(getattr(c, "connection", None) is not None
                   and not c.connection.closed for c in clients.values())  # fmt: skip

    def _on_drop(self, exc: Exception, now: int) -> None:
        self._take_new(now)
        if self._gap_start is None:  # unknown since the last moment we knew we were live
            # an open socket is not proof: the exchange may have closed it up to a network
            # round trip and a loop turn before we saw it, so the gap starts that much earlier
            # (and the covered stretch ends there)
            floor = self._segment_start if self._segment_start is not None else self._last_ok
            self._last_ok = max(floor, self._last_ok - LIVENESS_SLACK_MS)
            self._gap_start = self._last_ok
            self.flush()  # close the covered stretch before the gap
            self._segment_start = None
            logger.warning("%s liquidation stream dropped (%s); reconnecting", self.ex.id, exc)
        self.stats.reconnects += 1

    def _replaced(self, now: int) -> bool:
        """Did ccxt.pro replace the connection without raising to us (its close came right
        after the message we were waiting for, so the next watch just reconnected)? Then the
        stretch since we last knew it live is a gap, as for a drop."""
        changed = self._reconnects.changed()  # always: it also notes the connection now in use
        if not changed or self._gap_start is not None:
            return False
        self._on_drop(ConnectionError("connection replaced by ccxt.pro without an error"), now)
        return True

    def _on_message(self, now: int) -> None:
        self._replaced(now)
        if self._gap_start is not None:
            self._write_gap(self._gap_start, now)
            self._segment_start = now
            logger.info("%s liquidation stream back after %.1f s", self.ex.id,
                        (now - self._gap_start) / 1000)  # fmt: skip
            self._gap_start = None
        self._take_new(now)
        self._last_ok = now

    async def run(self, stop: asyncio.Event) -> CollectStats:
        """Collect until `stop` is set; flushes and returns the stats."""
        backoff, watch = 0.1, None
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                watch = watch or asyncio.ensure_future(self._watch_once())
                await asyncio.wait({watch, stopper}, timeout=self.flush_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                now = int(time.time() * 1000)
                if watch.done():
                    exc, watch = watch.exception(), None
                    if isinstance(exc, ccxt.NetworkError):
                        self._on_drop(exc, now)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, self.max_backoff)
                        continue
                    if exc is not None:
                        raise exc
                    backoff = 0.1
                    self._on_message(now)
                elif self._gap_start is None and self._connected() and not self._replaced(now):
                    self._last_ok = now  # quiet, but the connection is up
                if time.monotonic() - self._last_flush >= self.flush_seconds:
                    self.flush()
        finally:
            stopper.cancel()
            if watch is not None:
                watch.cancel()
        now = int(time.time() * 1000)
        self._take_new(now)
        if self._gap_start is None and self._connected() and not self._replaced(now):
            self._last_ok = now
        if self._gap_start is not None:
            self._write_gap(self._gap_start, now)
        await self._final_flush()
        return self.stats

    async def _final_flush(self) -> None:
        """Write everything the store takes (a few tries); count what it did not (logged)."""
        lost = await self.writer.finish(lambda: self.flush(force=True))
        self.stats.unwritten = lost["liquidations"]


def pro_client(exchange_id: str, venue_url: str | None = None):
    """A ccxt.pro client for perpetual swaps: the real exchange, or the local exchange (which
    speaks Binance's API) at `venue_url`."""
    import ccxt.pro

    if exchange_id not in ccxt.pro.exchanges:
        raise SystemExit(
            f"unknown exchange {exchange_id!r}; ccxt.pro knows e.g. binance, bybit, okx"
        )
    if not venue_url:
        return getattr(ccxt.pro, exchange_id)({"options": {"defaultType": "swap"}})
    if exchange_id != "binance":
        raise SystemExit("the local exchange speaks Binance's API: use --exchange binance")
    from perpflow.venue.overlay import ccxt_config

    return ccxt.pro.binance(ccxt_config(venue_url))


async def run_collector(exchange_id: str, store_root: Path, *, symbols: list[str] | None = None,
                        venue_url: str | None = None, duration: float | None = None,
                        ) -> CollectStats:  # fmt: skip
    """Check that `store_root` takes files (else `StoreNotWritable` naming it, before anything
    connects), build the ccxt.pro client (against the local exchange when `venue_url` is
    given), collect for `duration` seconds or until Ctrl-C, and close cleanly."""
    check_writable(store_root)
    ex = pro_client(exchange_id, venue_url)
    stop = asyncio.Event()
    try:
        await ex.load_markets()
        collector = LiquidationCollector(ex, store_root, symbols=symbols)
        task = asyncio.ensure_future(collector.run(stop))
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=duration)
        except (TimeoutError, asyncio.CancelledError, KeyboardInterrupt):
            stop.set()
        return await task
    finally:
        await ex.close()
