"""The `perpflow record` process: the ccxt.pro client, signals, duration, the book recorder
(`perpflow.data.record.BookRecorder`) and, on the same client, the liquidation collector."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from perpflow.data.durable import check_writable
from perpflow.data.record import STALE_SECONDS, BookRecorder, RecordStats
from perpflow.data.record_ccxt import load_markets
from perpflow.data.record_shard import StatusFile


async def run_recorder(exchange_id: str, store_root: Path, symbols: list[str], *,
                       venue_url: str | None = None, duration: float | None = None,
                       levels: int = 25, cadence: float = 1.0, flush_seconds: float = 1.0,
                       status_every: float = 30.0, liquidations: bool = False,
                       stale_seconds: float = STALE_SECONDS, status_file: Path | None = None,
                       shard=None, outage_since: int | None = None) -> RecordStats:  # fmt: skip
    """Check that `store_root` takes files (else `StoreNotWritable` naming it, before anything
    connects), build the ccxt.pro client (the local exchange when `venue_url` is given), record
    for `duration` seconds or until SIGTERM/Ctrl-C, flush and close. `liquidations`: the same
    client also runs `perpflow.data.collect.LiquidationCollector` for the symbols. Rows that
    could not be written are in the returned stats' `unwritten` (and logged as an error).
    A fleet's shard (`perpflow.data.record_fleet`): `status_file` is rewritten after each flush
    (`record_shard.StatusFile`, naming `shard`); `outage_since` (ms epoch) opens the restarted
    shard's `recorder down` gaps (see `BookRecorder`)."""
    import signal

    from perpflow.data.collect import pro_client

    check_writable(store_root)
    ex = pro_client(exchange_id, venue_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await load_markets(ex, stop)
        # the market list is thousands of long-lived dicts: keep them out of every collection
        # pass (a recorder allocates per message, so collections run constantly under load)
        gc.freeze()
        unknown = [s for s in symbols if s not in ex.markets]
        if unknown:
            raise SystemExit(f"{exchange_id}: unknown symbol(s) {unknown} (use unified symbols, "
                             "e.g. BTC/USDT:USDT)")  # fmt: skip
        rec = BookRecorder(ex, store_root, symbols, levels=levels, cadence=cadence, flush_seconds=flush_seconds,
                           status_every=status_every, stale_seconds=stale_seconds, outage_since=outage_since,
                           status_file=None if status_file is None else StatusFile(status_file, shard))  # fmt: skip
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
            liq = await liq_task
            stats.liquidations = liq.stored
            if liq.unwritten:
                stats.unwritten["liquidations"] = liq.unwritten
        return stats
    finally:
        await ex.close()
