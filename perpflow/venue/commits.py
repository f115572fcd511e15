"""Group commit of the venue's ledger: requests in flight together share one sqlite transaction,
written off the event loop, and no answer goes out before its changes are written.

A request applies its changes in memory (under the gateway's lock, with no await in between),
then awaits `durable()`: its changes join the batch being built. A flusher task takes a batch
(under the lock, so no request is half-applied then) once the requests that arrived together
have been applied, writes it in one transaction (`Ledger.collect`, `Ledger.write`), pushes its
user-data events and answers its requests. The write runs on the event loop: in a worker
thread, sqlite's per-row GIL hand-offs wait up to the interpreter's switch interval (5 ms) each
while the loop is busy, which made a batch of 50 orders take seconds under load. Durability per
answer is what the per-request commit gave (sqlite WAL, synchronous=NORMAL: a committed
transaction survives a crash of the process); WAL checkpoints (which fsync) run on their own
connection in another thread (one call, the GIL released throughout) instead of inside a
commit on the loop.

If a batch cannot be written, or a request fails with an unexpected exception, the ledger goes
back to the last written batch (`Ledger.reload`, `Engine.reindex`) and every request whose
changes were not written answers -1000: nothing of it was applied.

Written by hand: group commit is a few lines of asyncio around sqlite; no library here does it
for an in-memory ledger mirrored to sqlite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)
CHECKPOINT_EVERY_S = 0.5  # at most this often; a checkpoint copies the WAL into the database


class CommitFailed(Exception):
    """The request's changes were rolled back (not written)."""


class GroupCommit:
    """Batches of the gateway's requests written by one flusher (see the module docstring)."""

    def __init__(self, ledger, engine, lock: asyncio.Lock, publish):
        self.ledger, self.engine, self.lock, self.publish = ledger, engine, lock, publish
        self._waiters: list[asyncio.Future] = []
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None  # clear while a batch is being written
        self._task: asyncio.Task | None = None
        self._checkpointer: _Checkpointer | None = None
        self.batches = 0  # written so far (with their request count in `requests`)
        self.requests = 0

    async def start(self) -> None:
        self._wake, self._idle = asyncio.Event(), asyncio.Event()
        self._idle.set()
        self._task = asyncio.get_running_loop().create_task(self._flush_loop())
        if self.ledger.db is not None and self.ledger.path is not None:
            self.ledger.db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = _Checkpointer(self.ledger.path)

    async def stop(self) -> None:
        """Write what is pending, stop the flusher and the checkpoints."""
        if self._task is not None:
            deadline = time.monotonic() + 10
            while (self._waiters or not self._idle.is_set()) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.ledger.commit()
        if self._checkpointer is not None:
            self._checkpointer.close()

    async def durable(self) -> None:
        """Return once every change made so far is written; CommitFailed if it was rolled back.
        Without a running flusher (not started) it commits now."""
        if self._task is None:
            self.ledger.commit()
            await self._push(self._take_events())
            return
        if not (self.ledger.dirty or self._waiters or self.engine.events) and self._idle.is_set():
            return  # everything applied so far is written
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake.set()
        await fut

    async def abort(self) -> None:
        """Roll back to the last written batch (call holding the lock): waits for the batch being
        written, reloads the ledger and fails the requests not yet written."""
        if self._idle is not None:
            await self._idle.wait()
        self.ledger.reload()
        self.engine.reindex()
        self.engine.events.clear()
        waiters, self._waiters = self._waiters, []
        _fail(waiters)

    # --- the flusher -----------------------------------------------------------------------
    def _take_events(self) -> list:
        events, self.engine.events = self.engine.events, []
        return events

    async def _push(self, events: list) -> None:
        if events:
            await self.publish(events)

    async def _write(self, rows: dict) -> None:
        """Write one batch (on the loop; see the module docstring)."""
        self.ledger.write(rows)

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with self.lock:
                waiters, self._waiters = self._waiters, []
                rows = self.ledger.collect()
                events = self._take_events()
            if not waiters and not rows:
                continue
            self._idle.clear()
            try:
                await self._write(rows)
                written = True
            except Exception:
                logger.exception("venue ledger write failed; rolled back to the last written batch")
                written = False
            finally:
                self._idle.set()
            if not written:
                _fail(waiters)
                async with self.lock:
                    await self.abort()
                continue
            self.batches += 1
            self.requests += len(waiters)
            if self._checkpointer is not None:
                self._checkpointer.maybe()
            await self._push(events)
            for w in waiters:
                if not w.done():
                    w.set_result(None)


def _fail(waiters: list[asyncio.Future]) -> None:
    for w in waiters:
        if not w.done():
            w.set_exception(CommitFailed())


class _Checkpointer:
    """PASSIVE WAL checkpoints on a connection of their own in a thread of their own (they never
    block the writer), at most every CHECKPOINT_EVERY_S and one at a time."""

    def __init__(self, path):
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="perpflow-checkpoint")
        self._last = time.monotonic()
        self._running = None

    def maybe(self) -> None:
        now = time.monotonic()
        if now - self._last < CHECKPOINT_EVERY_S or (self._running and not self._running.done()):
            return
        self._last = now
        self._running = self._pool.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            logger.exception("venue ledger: WAL checkpoint failed (the next one retries)")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._db.close()
