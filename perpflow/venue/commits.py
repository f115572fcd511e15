"""Group commit of the venue's ledger: requests in flight together share one sqlite transaction,
and no answer goes out before its changes are written.

A request applies its changes in memory (on the event loop, with no await in between), then
awaits `durable()`: its changes join the batch being built, and the first request of a batch
schedules its flush (`loop.call_soon`). The flush runs at the start of the next loop iteration,
after every request that was being handled in this one, and before the request bodies that
arrive meanwhile: it writes the batch in one transaction (`Ledger.collect`, `Ledger.write`),
hands its user-data events to the streams and answers its requests. The write runs on the loop:
in a worker thread, sqlite's per-row GIL hand-offs each waited up to the interpreter's switch
interval (5 ms) while the loop was busy, which made a batch of 50 orders take seconds under
load; a flush task (instead of a callback) queued behind the next requests' handlers and added
their time to every answer. Durability per answer is what the per-request commit gave (sqlite
WAL, synchronous=NORMAL: a committed transaction survives a crash of the process); WAL
checkpoints (which fsync) run on their own connection in another thread (one call, the GIL
released throughout) instead of inside a commit on the loop.

If a batch cannot be written, or a request fails with an unexpected exception, the ledger goes
back to the last written batch (`Ledger.reload`, `Engine.reindex`) and every request whose changes
were not written answers -1000: nothing of it was applied.

Written by hand: group commit is a few lines of asyncio around sqlite; no library here does it
for an in-memory ledger mirrored to sqlite.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)
CHECKPOINT_EVERY_S = 0.5  # at most this often; a checkpoint copies the WAL into the database


class CommitFailed(Exception):
    """The request's changes were rolled back (not written)."""


class GroupCommit:
    """Batches of the gateway's requests, each written by one flush (see the module docstring).
    `pause()` holds the writes (answers wait) until `resume()`: for tests and drills."""

    def __init__(self, ledger, engine, publish):
        self.ledger, self.engine, self.publish = ledger, engine, publish
        self._waiters: list[asyncio.Future] = []
        self._scheduled = False
        self._paused = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checkpointer: _Checkpointer | None = None
        self._pushes: set[asyncio.Task] = set()
        self.batches = 0  # written so far (with their request count in `requests`)
        self.requests = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.ledger.db is not None and self.ledger.path is not None:
            self.ledger.db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = _Checkpointer(self.ledger.path)

    async def stop(self) -> None:
        """Write what is pending and stop the checkpoints."""
        self._paused = False
        self._flush()
        if self._pushes:
            await asyncio.gather(*self._pushes, return_exceptions=True)
        self.ledger.commit()
        if self._checkpointer is not None:
            self._checkpointer.close()

    async def durable(self) -> None:
        """Return once every change made so far is written; CommitFailed if it was rolled back.
        Not started: it commits now."""
        if self._loop is None:
            self.ledger.commit()
            events, self.engine.events = self.engine.events, []
            if events:
                await self.publish(events)
            return
        if not (self.ledger.dirty or self._waiters or self.engine.events):
            return  # everything applied so far is written
        fut = self._loop.create_future()
        self._waiters.append(fut)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        await fut

    def abort(self) -> None:
        """Roll back to the last written batch: reload the ledger, fail the requests not yet
        written (their answers: -1000)."""
        self.ledger.reload()
        self.engine.reindex()
        self.engine.events.clear()
        waiters, self._waiters = self._waiters, []
        _fail(waiters)

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        if self._waiters and not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    # --- the flush -------------------------------------------------------------------------
    def _flush(self) -> None:
        """Write the batch, push its events, answer its requests (a loop callback)."""
        self._scheduled = False
        if self._paused:
            return
        waiters, self._waiters = self._waiters, []
        events, self.engine.events = self.engine.events, []
        try:
            self.ledger.write(self.ledger.collect())
        except Exception:
            logger.exception("venue ledger write failed; rolled back to the last written batch")
            _fail(waiters)
            self.abort()
            return
        self.batches += 1
        self.requests += len(waiters)
        if self._checkpointer is not None:
            self._checkpointer.maybe()
        if events:  # (a task: it starts before the answers resume)
            task = self._loop.create_task(self.publish(events))
            self._pushes.add(task)
            task.add_done_callback(self._pushes.discard)
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
