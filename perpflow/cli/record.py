"""`perpflow record` (order books, trades, liquidations over ccxt.pro) and `perpflow collect
liquidations`: live streams into the event store (`perpflow.data.record`, `perpflow.data.collect`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_STORE, command, group, positive


def _record(args: argparse.Namespace) -> int:
    import asyncio

    from perpflow.data.record import run_recorder

    stats = asyncio.run(run_recorder(
        args.exchange, Path(args.store), args.symbols, venue_url=args.venue_url,
        duration=args.duration, levels=args.levels, cadence=args.cadence,
        flush_seconds=args.flush_seconds, status_every=args.status_every, liquidations=args.liquidations,
        stale_seconds=args.stale_seconds,
    ))  # fmt: skip
    liq = f", {stats.liquidations} liquidations" if args.liquidations else ""
    print(
        f"recorded {stats.snapshots} snapshots, {stats.diffs} diff levels, {stats.trades} trades{liq}, "
        f"{stats.resyncs} re-syncs, {stats.reconnects} reconnects into {args.store}"
    )
    return _unwritten(stats.unwritten, args.store)


def _unwritten(lost: dict[str, int], store) -> int:
    """Exit 1 and one line per record kind when rows could not be written (full disk)."""
    lost = {k: n for k, n in lost.items() if n}
    for kind, n in lost.items():
        print(f"NOT WRITTEN: {n} {kind} rows could not be written to {store}")
    return 1 if lost else 0


def _collect_liquidations(args: argparse.Namespace) -> int:
    import asyncio

    from perpflow.data.collect import run_collector

    stats = asyncio.run(run_collector(
        args.exchange, Path(args.store), symbols=args.symbols, venue_url=args.venue_url,
        duration=args.duration,
    ))  # fmt: skip
    print(f"stored {stats.stored} liquidations, {stats.duplicates} duplicates dropped, "
          f"{stats.reconnects} reconnects, {len(stats.gaps)} gaps recorded in {args.store}")  # fmt: skip
    return _unwritten({"liquidations": stats.unwritten}, args.store)


def register(sub) -> None:
    """record, collect liquidations."""
    rec = command(sub, "record", _record, "record order books (ccxt.pro) into the event store")
    rec.add_argument("--exchange", default="binance")
    rec.add_argument("--symbols", nargs="+", required=True, help="unified, e.g. BTC/USDT:USDT")
    rec.add_argument("--store", default=DEFAULT_STORE)
    rec.add_argument("--venue-url", default=None, help="record from the local exchange instead")
    rec.add_argument(
        "--duration", type=positive, default=None, help="seconds (default: until Ctrl-C)"
    )
    rec.add_argument("--levels", type=int, default=25)
    rec.add_argument("--cadence", type=positive, default=1.0, help="seconds between snapshots")
    rec.add_argument(
        "--flush-seconds", type=positive, default=1.0, help="at most this much is lost on kill -9"
    )
    rec.add_argument("--status-every", type=positive, default=30.0)
    rec.add_argument(
        "--liquidations",
        action="store_true",
        help="also record the symbols' liquidations (as `perpflow collect liquidations`)",
    )
    rec.add_argument("--stale-seconds", type=positive, default=10.0,
                     help="a book unchanged this long is recorded as a 'stale feed' gap")  # fmt: skip

    csub = group(sub, "collect", "record live streams into the event store", "collect_cmd")
    cl = command(csub, "liquidations", _collect_liquidations,
                 "ccxt.pro watch_liquidations -> the event store")  # fmt: skip
    cl.add_argument("--exchange", default="binance", help="binance, bybit or okx")
    cl.add_argument(
        "--symbols",
        nargs="*",
        default=None,
        help="unified symbols (default: the all-market stream, Binance)",
    )
    cl.add_argument(
        "--store", default=DEFAULT_STORE, help="event store (LiquiditySweep reads <datadir>/store)"
    )
    cl.add_argument("--venue-url", default=None, help="collect from the local exchange instead")
    cl.add_argument(
        "--duration", type=positive, default=None, help="seconds (default: until Ctrl-C)"
    )
