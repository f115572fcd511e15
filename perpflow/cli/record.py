"""`perpflow record` (order books, trades, liquidations over ccxt.pro) and `perpflow collect
liquidations`: live streams into the event store (`perpflow.data.record`, `perpflow.data.collect`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_STORE, command, group, positive
from perpflow.errors import UserError


def _record(args: argparse.Namespace) -> int:
    import asyncio

    from perpflow.data.record import run_recorder

    if not args.symbols:
        raise UserError("--symbols is required (e.g. --symbols BTC/USDT:USDT)")
    symbols = args.symbols if args.shard is None else args.shard.symbols(args.symbols)
    if not symbols:
        raise UserError(
            f"shard {args.shard} of {len(set(args.symbols))} symbols gets none: use fewer shards"
        )
    stats = asyncio.run(run_recorder(
        args.exchange, Path(args.store), symbols, venue_url=args.venue_url,
        duration=args.duration, levels=args.levels, cadence=args.cadence,
        flush_seconds=args.flush_seconds, status_every=args.status_every, liquidations=args.liquidations,
        stale_seconds=args.stale_seconds, status_file=args.status_file, shard=args.shard,
        outage_since=args.outage_since,
    ))  # fmt: skip
    liq = f", {stats.liquidations} liquidations" if args.liquidations else ""
    print(
        f"recorded {stats.snapshots} snapshots, {stats.diffs} diff levels, {stats.trades} trades{liq}, "
        f"{stats.resyncs} re-syncs, {stats.reconnects} reconnects into {args.store}"
    )
    return _unwritten(stats.unwritten, args.store)


def _fleet(args: argparse.Namespace) -> int:
    from perpflow.data.record_fleet import FleetOptions, run_fleet

    store = Path(args.store)
    passed = ["--exchange", args.exchange, "--levels", str(args.levels), "--cadence", str(args.cadence),
              "--flush-seconds", str(args.flush_seconds), "--status-every", str(args.status_every),
              "--stale-seconds", str(args.stale_seconds)]  # fmt: skip
    passed += ["--venue-url", args.venue_url] if args.venue_url else []
    passed += ["--liquidations"] if args.liquidations else []
    opts = FleetOptions(
        args.procs, args.symbols, store, Path(args.status_dir or f"{store}-fleet"), exchange=args.exchange,
        recorder_args=passed, duration=args.duration, status_every=args.status_every,
        backoff_min=args.backoff_min, backoff_max=args.backoff_max, stop_timeout=args.stop_timeout,
        stall_seconds=args.stall_seconds,
    )  # fmt: skip
    codes = run_fleet(opts)
    bad = {k: c for k, c in codes.items() if c not in (0, None)}
    print(f"fleet of {args.procs} stopped; status in {opts.status_dir / 'fleet.json'}"
          + "".join(f"\nshard {k} exited with {c} (see {opts.status_dir}/shard-{k.split('/')[0]}.log)"
                    for k, c in bad.items()))  # fmt: skip
    return 1 if bad else 0


def _shard(value: str):
    from perpflow.data.record_shard import Shard

    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _recorder_args(rec, *, symbols_required: bool = True) -> None:
    """The options a recorder and the fleet share."""
    rec.add_argument("--exchange", default="binance")
    rec.add_argument(
        "--symbols", nargs="+", required=symbols_required, help="unified, e.g. BTC/USDT:USDT"
    )
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


def _register_fleet(rec) -> None:
    """`perpflow record fleet`: N shard processes under one supervisor."""
    sub = rec.add_subparsers(dest="record_cmd", required=False, metavar="fleet")
    fl = command(sub, "fleet", _fleet, "run N `record --shard i/N` processes, restart the dead, "
                 "record their outages as gaps, report one status")  # fmt: skip
    fl.add_argument("--procs", type=int, required=True, help="number of shard processes")
    _recorder_args(fl)
    fl.add_argument("--status-dir", default=None,
                    help="fleet.json, shard-i.json and shard-i.log (default: <store>-fleet)")  # fmt: skip
    fl.add_argument("--backoff-min", type=positive, default=1.0, help="first restart delay, s")
    fl.add_argument("--backoff-max", type=positive, default=60.0, help="restart delay cap, s")
    fl.add_argument("--stop-timeout", type=positive, default=60.0,
                    help="seconds a stopping shard gets for its last flush")  # fmt: skip
    fl.add_argument("--stall-seconds", type=positive, default=120.0,
                    help="a shard whose status has not moved this long is killed and restarted")  # fmt: skip


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
    rec = command(sub, "record", _record, "record order books (ccxt.pro) into the event store "
                  "(`record fleet`: many symbols over N processes)")  # fmt: skip
    # not required here: `record fleet --symbols ...` hands its options to the sub-command
    _recorder_args(rec, symbols_required=False)
    rec.add_argument("--shard", type=_shard, default=None,
                     help="i/n: record only shard i's share of --symbols (sorted, round-robin; from 1)")  # fmt: skip
    rec.add_argument("--status-file", type=Path, default=None,
                     help="rewrite this JSON status after every flush (the fleet reads it)")  # fmt: skip
    rec.add_argument("--outage-since", type=int, default=None,
                     help="ms epoch: record a 'recorder down' gap from then until each stream is "
                          "trustworthy again (the fleet passes it to a restarted shard)")  # fmt: skip
    _register_fleet(rec)

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
