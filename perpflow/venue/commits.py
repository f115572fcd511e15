"""Group commit of the venue's ledger: requests in flight together share one sqlite transaction,
written off the event loop, and no answer goes out before its changes are written.

A request applies its changes in memory (under the gateway's lock, with no await in between),
then awaits `durable()`: its changes join the batch being built. One flusher task takes a batch
at a time (under the lock, so no request is half-applied then), serialises it on the loop
(`Ledger.collect`) and writes it in a worker thread (`Ledger.write`; sqlite releases the GIL),
while the loop goes on applying the next requests. When the batch is on disk its user-data
events are pushed and its requests answered. Durability per answer is what the per-request
commit gave (sqlite WAL, synchronous=NORMAL: a committed transaction survives a crash of the
process); WAL checkpoints (which fsync) run on their own connection in another thread instead
of inside a commit on the loop.

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
        self._task: asyncio.Task | None = None
        self._writing: asyncio.Future | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="perpflow-ledger")
        self._checkpointer: _Checkpointer | None = None
        self.batches = 0  # written so far (with their request count in `requests`)
        self.requests = 0

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._flush_loop())
        if self.ledger.db is not None and self.ledger.path is not None:
            self.ledger.db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = _Checkpointer(self.ledger.path)

    async def stop(self) -> None:
        """Write what is pending, stop the flusher and the checkpoints."""
        if self._task is not None:
            deadline = time.monotonic() + 10
            while (self._waiters or self._writing is not None) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.ledger.commit()
        self._writer.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.close()

    async def durable(self) -> None:
        """Return once every change made so far is written; CommitFailed if it was rolled back.
        Without a running flusher (not started) it commits now."""
        if self._task is None:
            self.ledger.commit()
            await self._push(self._take_events())
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake.set()
        await fut

    async def abort(self) -> None:
        """Roll back to the last written batch (call holding the lock): waits for the batch being
        written, reloads the ledger and fails the requests not yet written."""
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writing)
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

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with self.lock:
                waiters, self._waiters = self._waiters, []
                rows = self.ledger.collect()
                events = self._take_events()
            if not waiters and not rows:
                continue
            writing = self._writing = loop.run_in_executor(self._writer, self.ledger.write, rows)
            try:
                await writing
            except Exception:
                logger.exception("venue ledger write failed; rolled back to the last written batch")
                self._writing = None
                _fail(waiters)
                async with self.lock:
                    await self.abort()
                continue
            self._writing = None
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
