"""The recorder's buffers between two flushes, and the store batches made of them.

`Buffers` holds what the event loop gathered since the last flush (book snapshots, raw diff and
aggTrade messages, trades ccxt parsed, closed gaps); `Buffers.take()` hands them over and starts
empty ones, on the event loop. `queue_batches` turns what was taken into one store batch per
record kind (every symbol in it: the store writes a part per symbol) queued on a
`DurableWriter`. It runs off the event loop (`BookRecorder` flushes in a worker thread), so it
touches nothing the loop still appends to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from perpflow.data.durable import DurableWriter
from perpflow.data.record_ccxt import agg_trade_rows, diff_rows, store_times

TRADE_COLUMNS = ["symbol", "ts_event", "ts_recv", "id", "side", "price", "amount"]


@dataclass
class Buffers:
    """Since the last flush: book rows, (recv ms, diff message), (recv ms, Binance aggTrade
    message) (the list object stays the same: `record_ccxt.tap_agg_trades` appends to it),
    trade tuples (`TRADE_COLUMNS`), closed gap records."""

    snaps: list[dict] = field(default_factory=list)
    diffs: list[tuple[float, dict]] = field(default_factory=list)
    aggs: list[tuple[float, dict]] = field(default_factory=list)
    trades: list[tuple] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)

    def take(self) -> Buffers:
        """What was gathered (a new `Buffers`), leaving these empty. Call on the event loop."""
        out = Buffers(self.snaps, self.diffs, list(self.aggs), self.trades, self.gaps)
        self.snaps, self.diffs, self.trades, self.gaps = [], [], [], []
        self.aggs.clear()
        return out


def queue_batches(writer: DurableWriter, exchange: str, b: Buffers) -> None:
    """Queue `b`'s records on `writer`, each one batch over every symbol, in this order:
    `book_diffs` (a diff message is several rows), `trades`, `book_gaps`, `book`."""
    if b.diffs:
        writer.add("book_diffs", diff_rows(b.diffs).assign(exchange=exchange), time_col="ts_recv",
                   messages=len(b.diffs))  # fmt: skip
    if b.trades or b.aggs:
        frames = [pd.DataFrame(b.trades, columns=TRADE_COLUMNS)] if b.trades else []
        frames += [agg_trade_rows(b.aggs)] if b.aggs else []
        t = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        writer.add("trades", store_times(t.assign(exchange=exchange)), time_col="ts_recv")
    if b.gaps:
        g = pd.DataFrame(b.gaps).assign(exchange=exchange)
        g["ts_event"], g["ts_recv"] = g["start_ms"], g["end_ms"]
        writer.add("book_gaps", store_times(g))
    if b.snaps:  # last: a stored book means the flush's other batches are stored (`_outage_start`)
        writer.add("book", store_times(pd.DataFrame(b.snaps)), time_col="ts_recv")
