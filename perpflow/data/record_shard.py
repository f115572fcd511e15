"""One recorder of a fleet: which symbols shard `i/n` records, and the status file it keeps.

Assignment: the symbol list is de-duplicated and sorted, and shard i (1-based, as `--shard 2/4`)
takes every n-th symbol from the (i-1)-th on (round-robin). The same list gives the same shards
on every machine and every restart, n shards cover it exactly once, and their sizes differ by at
most one. Adding a symbol to the list can move others to a neighbouring shard; restart the fleet
after changing the list (every shard records into the same store, so nothing is lost by a move).

The status file (`--status-file`) is one JSON object rewritten atomically (temp file, rename)
after every flush: what the supervisor (`perpflow.data.record_fleet`) reads to report the shard
and, if the shard dies, to know from when its data is missing (`durable_until_ms`: everything it
received before then is on disk) and which gaps it had open.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1 <= index <= count)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"i/n"` -> Shard(i, n); ValueError saying what is wrong otherwise."""
        try:
            i, n = (int(x) for x in str(text).split("/"))
        except ValueError:
            raise ValueError(
                f"{text!r} is not a shard i/n, e.g. 1/4 (shards are numbered from 1)"
            ) from None
        if not 1 <= i <= n:
            raise ValueError(
                f"shard {text!r}: i must be between 1 and n (shards are numbered from 1)"
            )
        return cls(i, n)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def symbols(self, symbols: list[str]) -> list[str]:
        """This shard's share of `symbols` (see the module doc)."""
        return shard_symbols(symbols, self.index, self.count)


def shard_symbols(symbols: list[str], index: int, count: int) -> list[str]:
    """Round-robin over the sorted, de-duplicated `symbols`: shard `index` (1-based) of `count`."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: i must be between 1 and n")
    return sorted(set(symbols))[index - 1 :: count]


class StatusFile:
    """Writes a recorder's status JSON to `path` after each flush (atomic: temp file + rename).
    `shard`: written into it; `outage_since`: the ms epoch a restarted shard's data is missing
    from (its `recorder down` gaps are open until each stream is trustworthy again)."""

    def __init__(self, path: Path, shard: Shard | None = None):
        self.path, self.shard = Path(path), shard
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.started_ms = int(time.time() * 1000)

    def write(self, rec, *, durable_until_ms: int | None, stopped: bool = False) -> None:
        """Status of recorder `rec` (a `BookRecorder`): pid, rows stored per kind and the messages
        they came from (`messages`: a diff message is several rows), book snapshots taken and due
        (one per symbol and cadence since start), book lag p50/p99 of the last 1,000 snapshots
        and the run's lag histogram (`record_stats.LAG_EDGES_MS`), gaps queued by
        "reason/stream", `durable_until_ms`, the gaps it has open, `stopped` at a clean exit.
        Called from the recorder's flush thread too: what the event loop changes meanwhile is
        copied first, each in one step (atomic under the GIL)."""
        lag, open_gaps = rec.stats.lag_ms[-1000:], list(rec._gap_since.items())
        now = int(time.time() * 1000)
        due = len(rec.symbols) * max(now - self.started_ms, 0) / (rec.cadence * 1000)
        body = {
            "pid": os.getpid(), "shard": None if self.shard is None else str(self.shard),
            "symbols": list(rec.symbols), "started_ms": self.started_ms,
            "updated_ms": now, "durable_until_ms": durable_until_ms,
            "rows": dict(rec.writer.stored), "messages": dict(rec.writer.messages),
            "snapshots": rec.stats.snapshots, "snapshots_due": int(due),
            "lag_p50_ms": float(np.percentile(lag, 50)) if lag else None,
            "lag_p99_ms": float(np.percentile(lag, 99)) if lag else None,
            "lag_hist": list(rec.stats.lag_hist), "gaps_by": dict(rec.stats.gaps_by),
            "gaps": rec.stats.gaps, "resyncs": rec.stats.resyncs, "reconnects": rec.stats.reconnects,
            "write_failures": rec.stats.write_failures,
            "open_gaps": [{"symbol": rec._ids[s], "stream": st, "start_ms": start, "reason": why}
                          for (s, st), (start, why) in open_gaps],
            "stopped": stopped,
        }  # fmt: skip
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self.path)


def read_status(path: Path) -> dict | None:
    """A status file's JSON, or None when it is missing or (never, being renamed into place)
    unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
