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
from perpflow.data.record_arrow import book_table, diff_table, trade_table
from perpflow.data.record_ccxt import AggTrades, Messages, store_times

TRADE_COLUMNS = ["symbol", "ts_event", "ts_recv", "id", "side", "price", "amount"]


@dataclass
class Buffers:
    """Since the last flush: book rows, diff messages as received (`Messages`: receive ms and
    JSON text), Binance aggTrade messages (`AggTrades`: their fields as columns; both objects
    stay the same, the taps hold them), trade tuples (`TRADE_COLUMNS`), closed gap records."""

    snaps: list[dict] = field(default_factory=list)
    diffs: Messages = field(default_factory=Messages)
    aggs: AggTrades = field(default_factory=AggTrades)
    trades: list[tuple] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)

    def take(self) -> Buffers:
        """What was gathered (a new `Buffers`), leaving these empty. Call on the event loop."""
        out = Buffers(self.snaps, self.diffs.take(), self.aggs.take(), self.trades, self.gaps)
        self.snaps, self.trades, self.gaps = [], [], []
        return out


def queue_batches(writer: DurableWriter, exchange: str, b: Buffers) -> None:
    """Queue `b`'s records on `writer`, each one batch over every symbol, in this order:
    `book_diffs` (a diff message is several rows), `trades`, `book_gaps`, `book`."""
    if len(b.diffs):
        writer.add("book_diffs", diff_table(b.diffs, exchange), time_col="ts_recv",
                   messages=len(b.diffs))  # fmt: skip
    if b.trades or len(b.aggs):
        writer.add("trades", trade_table(b.aggs, b.trades, exchange), time_col="ts_recv")
    if b.gaps:
        g = pd.DataFrame(b.gaps).assign(exchange=exchange)
        g["ts_event"], g["ts_recv"] = g["start_ms"], g["end_ms"]
        writer.add("book_gaps", store_times(g))
    if b.snaps:  # last: a stored book means the flush's other batches are stored (`_outage_start`)
        writer.add("book", book_table(b.snaps), time_col="ts_recv")
