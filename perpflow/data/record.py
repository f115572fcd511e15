"""`perpflow record`: order books from ccxt.pro websockets into perpflow's event store.

Per symbol, ccxt.pro's `watch_order_book` keeps a synced book (REST snapshot, buffered diffs,
Binance's `pu` chain). The recorder adds what a research store needs:
- `book` records: the top `levels` levels every `cadence` seconds (wide columns `bid_px_0`,
  `bid_sz_0`, ..., the book's `nonce`), with the exchange time of its last update (`ts_event`)
  and the local time it was sampled (`ts_recv`);
- `book_diffs` records: every diff message as received (`U`, `u`, `pu`, side, price, size), for
  cancel and refill analysis finer than the snapshots (Binance's depthUpdate; Bybit's orderbook
  deltas and snapshots in the same form, see `record_ccxt.bybit_diff`); a break in their `pu` chain (a
  withheld message, a reconnect) is recorded as a `diff chain` gap of stream `diffs`;
- `trades` records: every public trade (Binance: `aggTrade`), id, side, price, amount;
- `book_gaps` records: each stretch without a trustworthy book or trade stream (`stream`), with
  its reason: `sequence` (a broken `pu` chain: ccxt raises, the recorder re-subscribes, ccxt re-syncs from a fresh REST
  snapshot), `connection` (dropped, or cut by the exchange for falling behind; reconnect with
  backoff 0.1 s doubling to 30 s) or `stale feed` (no change to the book for `stale_seconds`
  while the connection stayed up: the feed froze; from just after its last change until the
  next). No book is sampled inside a gap; gaps still open at exit are closed and written.
A book's `ts_event` is the exchange time of its last applied change, never the sampling time,
so a reader measures a book's age from it (`perpflow.strategy.book_signals`).
Writes are atomic (temp file, then rename) every `flush_seconds`, made in a worker thread while
the loop goes on receiving (`data.record_batches`: a batch per kind over every symbol, books last);
`kill -9` loses at most the flush in flight and one interval, never leaves a half-written part;
SIGTERM and Ctrl-C flush first. The store is checked writable at start; each batch stays in memory
until written (`data.durable`: a full disk is retried with back-off and logged as an error; what
could not be written is counted in `RecordStats.unwritten` and logged at exit).
Speed (by hand; ccxt.pro has no switch for it; `benchmarks/bench_recorder.py`): Binance's plain
events go from the socket to the capture in one step (`data.record_wire`), diff and aggTrade
messages are kept as the JSON text received (nothing for the garbage collector to walk) and made
into Arrow rows at flush time (`data.record_arrow`), written through the store's Arrow path
(`data.store_arrow`: the same guarantees, checked vectorised); ccxt's diff handling runs without
its per-message overhead (`record_ccxt.lean_diffs`, `fast_dispatch`) on books whose levels are
staged and applied when read (`data.record_book`); under load books are sampled as their diffs
arrive (`data.record_tap`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from pathlib import Path

import ccxt
import numpy as np

from perpflow.data.durable import DurableWriter, check_writable
from perpflow.data.record_batches import Buffers, queue_batches
from perpflow.data.record_ccxt import Reconnects, same_second_iso8601
from perpflow.data.record_stats import RecordStats
from perpflow.data.record_tap import tap_diffs
from perpflow.data.store import stored_until

logger = logging.getLogger(__name__)
STALE_SECONDS = 10.0  # a perpetual's book that has not changed for this long: its feed froze
SEEN_TRADES = 5_000  # per symbol: trade ids kept to drop those ccxt hands over again
TRADES_WAKE = 0.2  # s: a tapped trade stream's watcher (liveness only) wakes at most this often


class BookRecorder:
    """Record books of `symbols` (unified ccxt symbols) from a ccxt.pro exchange into the store
    at `store_root` (checked writable here). `stale_seconds`: a book unchanged this long opens a
    `stale feed` gap; `writer`: the batches' `DurableWriter` (default: one on `store_root`);
    `status_file`: a `record_shard.StatusFile` rewritten after each flush; `outage_since`: ms
    epoch from which a restarted recorder's streams are a `recorder down` gap until each is
    trustworthy again (its book synced, its first trades heard)."""

    def __init__(self, exchange, store_root: Path, symbols: list[str], *, levels: int = 25,
                 cadence: float = 1.0, flush_seconds: float = 1.0, status_every: float = 30.0,
                 max_backoff: float = 30.0, trades: bool = True, stale_seconds: float = STALE_SECONDS,
                 writer: DurableWriter | None = None, status_file=None,
                 outage_since: int | None = None):  # fmt: skip
        if not stale_seconds > 0:
            raise ValueError(f"stale_seconds must be > 0, got {stale_seconds}")
        self.ex, self.root, self.symbols = exchange, check_writable(store_root), symbols
        self.record_trades = trades
        self.levels, self.cadence, self.flush_seconds = levels, cadence, flush_seconds
        self.status_every, self.max_backoff = status_every, max_backoff
        self.stale_seconds = stale_seconds
        self.writer = writer or DurableWriter(self.root)
        self.exchange_id = exchange.id
        self.stats = RecordStats()
        # a fleet's shard (`record_shard`): its status file, and after a restart the ms its
        # data is missing from (a `recorder down` gap per stream until it is trustworthy again)
        self.status_file, self.outage_since = status_file, outage_since
        self.durable_until_ms: int | None = None  # all received before this is on disk
        self.buf = Buffers()  # snapshots, raw diffs and trades, closed gaps: until flushed
        self._flushing: asyncio.Future | None = None  # a flush running in a worker thread
        # unified symbol -> local ms of its book's last change (a diff; on venues whose diffs are
        # not tapped, a new exchange time or id on ccxt's book), and the (time, id) last seen
        self._last_change: dict[str, float] = {}
        self._book_seen: dict[str, tuple] = {}
        self._gap_since: dict[tuple[str, str], tuple[int, str]] = {}  # (symbol, stream)
        self._ids = {s: exchange.market(s)["id"] for s in symbols}
        self._next_sample: dict[str, float] = {}  # unified symbol -> ms its next snapshot is due
        self._by_id = {v: k for k, v in self._ids.items()}
        # every exchange's handlers call it, per message
        exchange.iso8601 = same_second_iso8601(exchange.iso8601)
        self.failed: BaseException | None = None  # an error in the receive path (`record_tap`)
        tap_diffs(self)

    # --- capture ---------------------------------------------------------------------------
    def _gap_open(self, symbol: str, reason: str, stream: str = "book",
                  start_ms: int | None = None) -> None:  # fmt: skip
        start = int(time.time() * 1000) if start_ms is None else start_ms
        self._gap_since.setdefault((symbol, stream), (start, reason))

    def _gap_close(self, symbol: str, stream: str = "book", how: str = "resumed") -> None:
        if (symbol, stream) in self._gap_since:
            start, reason = self._gap_since.pop((symbol, stream))
            gap = {"symbol": self._ids[symbol], "start_ms": start,
                   "end_ms": max(start, int(time.time() * 1000)), "reason": reason, "stream": stream}  # fmt: skip
            self.buf.gaps.append(gap)
            logger.warning("%s: %s gap of %.1f s (%s), %s", symbol, stream,
                           (gap["end_ms"] - start) / 1000, reason, how)  # fmt: skip

    def _outage_start(self, sym: str, stream: str) -> int:
        """Where a restarted recorder's `recorder down` gap of `stream` starts: `outage_since`, or
        past the parts its killed predecessor wrote after it (a kill mid-flush leaves some of that
        flush's parts on disk): past the stream's own, and past the book's (a flush writes its
        books last: a stored book means the other streams are stored up to it, and no stored
        book falls in any of the gaps)."""
        since, kind = int(self.outage_since), {"diffs": "book_diffs"}.get(stream, stream)
        ends = (
            stored_until(self.root, k, self.exchange_id, self._ids[sym], since)
            for k in {kind, "book"}
        )
        return max([since, *(e for e in ends if e is not None)])

    def _check_stale(self, now_ms: float) -> None:
        """Open a `stale feed` gap for each book unchanged for `stale_seconds` while no other
        gap is open: its feed froze, and sampling it would store an old book as if it were new.
        The gap starts just after the last change and closes with the next one."""
        limit, tapped = self.stale_seconds * 1000, self.exchange_id in ("binance", "bybit")
        for sym in self.symbols:
            ob = None if tapped else self.ex.orderbooks.get(sym)  # untapped: a new time or id
            seen = None if ob is None else (ob.get("timestamp"), ob.get("nonce"))
            if seen is not None and seen != self._book_seen.get(sym):
                if sym in self._book_seen:
                    self._last_change[sym] = now_ms
                self._book_seen[sym] = seen
            last = self._last_change.get(sym)
            if last is None or now_ms - last <= limit or (sym, "book") in self._gap_since:
                continue
            self._gap_open(sym, "stale feed", start_ms=int(last) + 1)
            self.stats.stale += 1
            logger.warning("%s: book unchanged for %.1f s: stale feed, not sampled until it moves",
                           sym, (now_ms - last) / 1000)  # fmt: skip

    async def _watch(self, symbol: str, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                await self.ex.watch_order_book(symbol)
                self._gap_close(symbol)
                self._gap_close(symbol, "diffs")  # open only after a restart (`outage_since`)
                backoff = 0.1
            except (ccxt.ChecksumError, ccxt.InvalidNonce) as exc:
                self.stats.resyncs += 1
                self._gap_open(symbol, "sequence")
                logger.info("%s: %s; re-syncing from a fresh snapshot", symbol, type(exc).__name__)
            except ccxt.NetworkError as exc:  # unheard since its last diff (a drop is seen late)
                self.stats.reconnects += 1
                last = self._last_change.get(symbol)
                self._gap_open(symbol, "connection", start_ms=None if last is None else int(last) + 1)  # fmt: skip
                logger.info("%s: connection lost (%s); retry in %.1f s", symbol, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def _watch_trades(self, symbol: str, stop: asyncio.Event) -> None:
        """Every public trade of `symbol` (Binance: the aggTrade stream), kept once each. A drop
        is a `connection` gap of stream `trades`, also when ccxt.pro reconnected without raising
        (`record_ccxt.Reconnects`): from the last batch heard until the next."""
        tapped = self.exchange_id == "binance"  # its trades are kept raw (`tap_agg_trades`)
        params, backoff, seen, order = {"name": "aggTrade"} if tapped else {}, 0.1, set(), deque()
        replaced = Reconnects(self.ex)
        heard = time.time() * 1000
        while not stop.is_set():
            try:
                trades = await self.ex.watch_trades(symbol, params=params)
                if replaced.changed() and (symbol, "trades") not in self._gap_since:
                    self.stats.reconnects += 1
                    self._gap_open(symbol, "connection", "trades", start_ms=int(heard))
                self._gap_close(symbol, "trades")
                backoff = 0.1
                recv = heard = time.time() * 1000
                for t in trades:  # ids only need to cover a reconnect's overlap (ccxt's cache)
                    if t["id"] in seen:
                        continue
                    seen.add(t["id"])
                    order.append(t["id"])
                    if len(order) > SEEN_TRADES:
                        seen.discard(order.popleft())
                    self.buf.trades.append((self._ids[symbol], t["timestamp"], recv, str(t["id"]), t["side"],
                                         float(t["price"]), float(t["amount"])))  # fmt: skip
                if tapped:  # alive is all this says: wake at most every TRADES_WAKE seconds
                    await asyncio.sleep(TRADES_WAKE)
            except ccxt.NetworkError as exc:  # unheard since the last trades (a drop is seen late)
                self.stats.reconnects += 1
                self._gap_open(symbol, "connection", "trades", start_ms=int(heard) + 1)
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
        """Append the top levels of `sym`'s book if it is synced (after a restart: once none of
        its streams is still down, so no book falls in a `recorder down` gap); True if taken."""
        ob, gaps = self.ex.orderbooks.get(sym), self._gap_since
        held = self.outage_since is not None and any(
            gaps.get((sym, s), (0, ""))[1] == "recorder down" for s in ("diffs", "trades"))  # fmt: skip
        if held or ob is None or (sym, "book") in gaps or not ob["bids"] or not ob["asks"]:
            return False
        nonce = ob.get("nonce")  # Binance: the last applied update id; ccxt leaves Bybit's unset
        if nonce is None and self.exchange_id == "binance":  # not synced to a snapshot yet
            return False
        # the exchange time of the last applied change (ccxt: the last diff's `E`); without one,
        # when its last diff arrived: never the sampling time, or a frozen book would look fresh
        changed = ob.get("timestamp") or self._last_change.get(sym, now)
        row = {"exchange": self.exchange_id, "symbol": self._ids[sym], "ts_event": changed,
               "ts_recv": now, "nonce": np.nan if nonce is None else nonce}  # fmt: skip
        for side, levels in (("bid", ob["bids"]), ("ask", ob["asks"])):
            top = levels[: self.levels]
            for i in range(self.levels):
                px, sz = (top[i][0], top[i][1]) if i < len(top) else (np.nan, np.nan)
                row[f"{side}_px_{i}"], row[f"{side}_sz_{i}"] = px, sz
        self.buf.snaps.append(row)
        self.stats.note_lag(now - row["ts_event"])
        self.stats.snapshots += 1
        # on the cadence's grid, so sampling at the first message after each due time does not
        # drift; slots missed while the loop was busy are skipped, not made up in a burst
        step = self.cadence * 1000
        due = self._next_sample.get(sym, now) + step
        self._next_sample[sym] = due if due > now else now + step
        return True

    # --- storage ---------------------------------------------------------------------------
    def _take(self) -> tuple[Buffers, int]:
        """The buffers gathered so far (their gaps counted) and the ms they were taken at. On the
        event loop, which appends to them."""
        taken = self.buf.take()
        self.stats.gaps += len(taken.gaps)
        self.stats.gaps_by.update(f"{g['reason']}/{g['stream']}" for g in taken.gaps)
        return taken, int(time.time() * 1000)

    def _write(self, taken: Buffers, staged_ms: int, force: bool, report: bool = False) -> int:
        """Queue `taken` as store batches on the writer (which keeps each until it is written),
        write what the store will take and, with `report`, the status file right after (a kill
        between the two leaves at most this flush on disk past `durable_until_ms`); the part
        files written. Any thread."""
        queue_batches(self.writer, self.exchange_id, taken)
        files = self.writer.write_due(force=force)
        if not self.writer.pending:
            self.durable_until_ms = staged_ms
        if report and self.status_file is not None:
            self.status_file.write(self, durable_until_ms=self.durable_until_ms)
        return files

    def _written(self, files: int) -> int:
        self.stats.files += files
        self.stats.diffs = self.writer.stored["book_diffs"]
        self.stats.diff_messages = self.writer.messages["book_diffs"]
        self.stats.trades = self.writer.stored["trades"]
        self.stats.write_failures = self.writer.failures
        return files

    def flush(self, *, force: bool = False) -> int:
        """Queue the buffers and write what the store will take (after a failed write, only
        once its back-off has passed, or `force`); returns the part files written. On the event
        loop (at exit; `run` flushes off it)."""
        taken, staged_ms = self._take()
        return self._written(self._write(taken, staged_ms, force))

    async def _flush_off_loop(self) -> int:
        """`flush` and the status file, with the batches made and written in a worker thread:
        the event loop goes on receiving meanwhile (parquet writes release the GIL; the pandas
        work shares it)."""
        taken, staged_ms = self._take()
        write = asyncio.to_thread(self._write, taken, staged_ms, False, True)
        self._flushing = asyncio.ensure_future(write)
        files = await self._flushing
        self._flushing = None
        return self._written(files)

    async def _final_flush(self) -> None:
        """At exit: close the open gaps, write everything the store takes (a few tries), and
        count what it did not (`stats.unwritten`, logged)."""
        if self._flushing is not None:  # cancelled while a flush thread ran: let it finish
            await asyncio.gather(self._flushing, return_exceptions=True)
        for sym, stream in list(self._gap_since):
            self._gap_close(sym, stream, how="recording stopped")
        self.stats.unwritten = dict(await self.writer.finish(lambda: self.flush(force=True)))
        if self.status_file is not None:
            self.status_file.write(self, durable_until_ms=self.durable_until_ms, stopped=True)

    async def run(self, stop: asyncio.Event) -> RecordStats:
        """Record until `stop` is set; the last buffers are flushed before returning."""
        watchers = [asyncio.ensure_future(self._watch(s, stop)) for s in self.symbols]
        if self.record_trades:
            watchers += [asyncio.ensure_future(self._watch_trades(s, stop)) for s in self.symbols]
        t0 = last_flush = last_status = time.monotonic()
        start_ms = time.time() * 1000
        for sym in self.symbols:  # no change yet: staleness counts from the start
            self._last_change.setdefault(sym, start_ms)
            streams = ("book", "diffs", "trades") if self.record_trades else ("book", "diffs")
            for stream in streams if self.outage_since is not None else ():
                self._gap_open(
                    sym, "recorder down", stream, start_ms=self._outage_start(sym, stream)
                )
        try:
            while not stop.is_set():
                for w in watchers:
                    if w.done() and w.exception() is not None:
                        raise w.exception()
                if self.failed is not None:  # raised inside ccxt's receive loop: stop on it
                    raise self.failed
                self._check_stale(time.time() * 1000)
                self.sample(due_only=True)  # books that moved were sampled as their diffs came
                now = time.monotonic()
                if now - last_flush >= self.flush_seconds:
                    await self._flush_off_loop()
                    last_flush = now
                if now - last_status >= self.status_every:
                    logger.info(self.stats.line(now - t0))
                    last_status = now
                soonest = min(
                    self._next_sample.values(), default=time.time() * 1000 + self.cadence * 1000
                )
                wait = min(
                    self.cadence, self.flush_seconds, max(0.02, soonest / 1000 - time.time())
                )
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass
        finally:
            for w in watchers:
                w.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await self._final_flush()
        logger.info(self.stats.line(max(time.monotonic() - t0, 1e-9)))
        return self.stats


def __getattr__(name: str):
    """`run_recorder` lives in `perpflow.data.record_run` (the process around a recorder)."""
    if name == "run_recorder":
        from perpflow.data.record_run import run_recorder

        return run_recorder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
