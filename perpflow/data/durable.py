"""Store writes that survive a full or failing disk, for the recorder and the collectors.

`check_writable(root)` proves at start that the store takes files (a read-only store fails
before anything is recorded, naming the path). `DurableWriter` holds each batch of records in
memory until the store has it: `add` queues a batch, `write_due` writes the queued batches in
order while writes succeed. A failed write (an `OSError`: full disk, read-only remount, I/O
error) keeps the batch, logs an error (at the first failure, then every `alarm_every` seconds
with what is waiting) and is retried with back-off (`retry_min` doubling to `retry_max`).
Batches are never merged or split, so a retry writes exactly the part files the failed attempt
meant to write (the store skips a part it already holds): nothing is stored twice. Beyond
`max_pending_rows` waiting, the oldest batches are given up, counted and logged; `finish` (at
exit) tries a last few times, then counts and logs whatever is still waiting. `unwritten`
holds those counts per kind.

Written by hand: the retry, ordering and accounting rules are the recorder's own; no library
wraps parquet part writes this way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from perpflow.data.store import write_events

logger = logging.getLogger(__name__)


class StoreNotWritable(OSError):
    """The event store cannot take files (read-only, missing permissions, not a directory)."""


def check_writable(root: Path) -> Path:
    """Create `root` if needed and write and remove a probe file in it; returns `root`, or
    raises `StoreNotWritable` naming the path, the reason and what to do."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".perpflow-write-check-", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StoreNotWritable(
            f"{root}: the event store is not writable ({exc.strerror or exc}); "
            "point --store at a writable directory or fix its permissions"
        ) from None
    return root


@dataclass(frozen=True)
class _Batch:
    kind: str
    frame: pd.DataFrame | pa.Table  # an Arrow table: the recorder's own batches (`store_arrow`)
    time_col: str
    messages: int  # the source messages its rows came from (a diff message is several rows)


class DurableWriter:
    """Queued store batches, written in order and kept until written (see the module doc).
    `write` is the store's `write_events` (the seam a test uses to make the disk fail)."""

    def __init__(self, root: Path, *, write: Callable = write_events, retry_min: float = 0.5,
                 retry_max: float = 30.0, alarm_every: float = 60.0,
                 max_pending_rows: int = 2_000_000, clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.root, self._write, self._clock = Path(root), write, clock
        self.retry_min, self.retry_max, self.alarm_every = retry_min, retry_max, alarm_every
        self.max_pending_rows = max_pending_rows
        self.pending: deque[_Batch] = deque()
        self.stored: Counter[str] = Counter()  # rows written, per kind
        self.messages: Counter[str] = Counter()  # source messages of the rows written, per kind
        self.unwritten: Counter[str] = Counter()  # rows given up, per kind
        self.failures = 0  # failed write attempts
        self._delay, self._next_try = retry_min, 0.0
        self._failing_since: float | None = None
        self._last_alarm = float("-inf")

    def add(self, kind: str, frame: pd.DataFrame | pa.Table, time_col: str = "ts_event",
            messages: int | None = None) -> None:  # fmt: skip
        """Queue `frame` (records of `kind`, a frame or an Arrow table in the store's columns,
        partitioned by `time_col`, made from `messages` source messages: default one per row)
        to be written."""
        if len(frame):
            self.pending.append(
                _Batch(kind, frame, time_col, len(frame) if messages is None else messages)
            )
            self._bound()

    def waiting(self) -> Counter[str]:
        """Rows queued and not yet written, per kind."""
        out: Counter[str] = Counter()
        for b in self.pending:
            out[b.kind] += len(b.frame)
        return out

    def write_due(self, *, force: bool = False) -> int:
        """Write queued batches in order until one fails; after a failure, only once its back-off
        has passed (or `force`). Returns the part files written."""
        now = self._clock()
        if not force and now < self._next_try:
            return 0
        files = 0
        while self.pending:
            b = self.pending[0]
            try:
                files += len(self._write(self.root, b.kind, b.frame, time_col=b.time_col))
            except OSError as exc:
                self._failed(exc, now)
                return files
            self.pending.popleft()
            self.stored[b.kind] += len(b.frame)
            self.messages[b.kind] += b.messages
        if self._failing_since is not None:
            logger.warning("%s: store writable again after %.1f s; every waiting batch written",
                           self.root, now - self._failing_since)  # fmt: skip
            self._failing_since = None
            self._delay, self._next_try = self.retry_min, 0.0
        return files

    async def finish(self, flush: Callable[[], object], attempts: int = 4) -> Counter[str]:
        """At exit: `flush()` (the owner's: queue its buffers, then `write_due(force=True)`)
        until nothing waits, at most `attempts` times, `retry_min` apart doubling; then give up
        the rest, log it as an error and return `unwritten`."""
        delay = self.retry_min
        for i in range(attempts):
            flush()
            if not self.pending:
                break
            if i < attempts - 1:
                await asyncio.sleep(delay)
                delay *= 2
        lost = {k: n for k, n in self.give_up().items() if n}
        if lost:
            logger.error("%s: could not write to the store, lost: %s", self.root,
                         ", ".join(f"{n} {k} rows" for k, n in sorted(lost.items())))  # fmt: skip
        return self.unwritten

    def give_up(self) -> Counter[str]:
        """Count everything still waiting as unwritten (at exit) and return `unwritten`."""
        for kind, rows in self.waiting().items():
            self.unwritten[kind] += rows
        self.pending.clear()
        return self.unwritten

    def _failed(self, exc: OSError, now: float) -> None:
        self.failures += 1
        self._next_try = now + self._delay
        if self._failing_since is None:
            self._failing_since = now
        if now - self._last_alarm >= self.alarm_every or self.failures == 1:
            self._last_alarm = now
            logger.error("%s: store write failed (%s); keeping %s rows in memory, retry in %.1f s",
                         self.root, exc, dict(self.waiting()), self._delay)  # fmt: skip
        self._delay = min(self._delay * 2, self.retry_max)

    def _bound(self) -> None:
        """Give up the oldest batches while more than `max_pending_rows` wait (memory bound)."""
        total = sum(len(b.frame) for b in self.pending)
        while total > self.max_pending_rows and len(self.pending) > 1:
            b = self.pending.popleft()
            total -= len(b.frame)
            self.unwritten[b.kind] += len(b.frame)
            logger.error("%s: store unwritable for too long: %d %s rows given up (%d waiting)",
                         self.root, len(b.frame), b.kind, total)  # fmt: skip
