"""Data commands: demo-data, demo-books, import metrics|liquidations, download quarterlies."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_DEMO_DIR, DEFAULT_STORE, command, group, utc_time

DEMO_PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]


def _demo_data(args: argparse.Namespace) -> int:
    from perpflow.data.demo import generate_demo_market

    summary = generate_demo_market(Path(args.outdir), days=args.days, seed=args.seed, progress=True)
    print(f"SYNTHETIC demo market written to {args.outdir}: {summary}")
    return 0


def _demo_books(args: argparse.Namespace) -> int:
    from perpflow.data.demo_books import write_demo_books

    n = write_demo_books(Path(args.datadir), args.pairs, start=args.start, end=args.end,
                         exchanges=tuple(args.exchanges), store=Path(args.store) if args.store else None)  # fmt: skip
    where = args.store or Path(args.datadir) / "store"
    print(
        f"SYNTHETIC books: {n:,} records for {len(args.pairs)} pair(s) on {', '.join(args.exchanges)} "
        f"into {where} (try them with perpflow.filters.book.enabled=true)"
    )
    return 0


def _import_metrics(args: argparse.Namespace) -> int:
    from perpflow.data.binance_metrics import import_metrics

    report = import_metrics([Path(p) for p in args.files], Path(args.datadir),
                            replace=args.replace, skip_bad_rows=args.skip_bad_rows)  # fmt: skip
    print("\n".join(report.lines()))
    return 0


def _import_liquidations(args: argparse.Namespace) -> int:
    from perpflow.data.liquidations import import_liquidations

    report = import_liquidations([Path(f) for f in args.files], Path(args.store),
                                 exchange=args.exchange, replace=args.replace,
                                 skip_bad_rows=args.skip_bad_rows)  # fmt: skip
    print("\n".join(report.lines()))
    return 0


def _import_flags(p: argparse.ArgumentParser) -> None:
    """--replace / --skip-bad-rows: the importers' explicit corrections and row skipping."""
    p.add_argument("--replace", action="store_true",
                   help="store the new version of events that differ from stored ones (an audit "
                        "record in <store>/corrections keeps the replaced ones)")  # fmt: skip
    p.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip rows that break a rule (each one listed) instead of stopping",
    )


def _download_quarterlies(args: argparse.Namespace) -> int:
    import ccxt
    import pandas as pd

    from perpflow.data.quarterlies import download_quarterlies

    if args.venue_url:
        from perpflow.venue.overlay import ccxt_config

        ex = ccxt.binance(ccxt_config(args.venue_url))
    else:
        ex = getattr(ccxt, args.exchange)({"options": {"defaultType": "swap"}})
    until = pd.Timestamp(args.until, tz="UTC") if args.until else None
    written = download_quarterlies(ex, args.pairs, args.timeframe, pd.Timestamp(args.since, tz="UTC"),
                                   Path(args.datadir), until=until, progress=True)  # fmt: skip
    for symbol, rows in written.items():
        print(f"{symbol}: {rows} new candles")
    if not written:
        print(f"{ex.id} lists no dated futures for {', '.join(args.pairs)}; the basis features "
              "fall back to the premium index")  # fmt: skip
    return 0


def _exchange_id(value: str) -> str:
    import ccxt

    if value not in ccxt.exchanges:
        raise argparse.ArgumentTypeError(f"{value!r} is not a ccxt exchange id (e.g. binance)")
    return value


def register(sub) -> None:
    """demo-data, demo-books, import, download."""
    demo = command(
        sub, "demo-data", _demo_data, "write the SYNTHETIC demo market (Freqtrade layout)"
    )
    demo.add_argument("--outdir", default=str(DEFAULT_DEMO_DIR))
    demo.add_argument("--days", type=int, default=150)
    demo.add_argument("--seed", type=int, default=7)

    dbk = command(
        sub,
        "demo-books",
        _demo_books,
        "SYNTHETIC recorded books for the demo market (try filters.book)",
    )
    dbk.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    dbk.add_argument("--pairs", nargs="+", default=DEMO_PAIRS)
    dbk.add_argument("--start", required=True, type=utc_time, help="UTC, e.g. 2026-06-01")
    dbk.add_argument("--end", required=True, type=utc_time, help="UTC, exclusive")
    dbk.add_argument("--exchanges", nargs="+", default=["binance", "bybit"])
    dbk.add_argument("--store", default=None, help="event store root (default <datadir>/store)")

    isub = group(sub, "import", "import external data (validated, never rewritten)", "import_cmd")
    im = command(
        isub, "metrics", _import_metrics, "Binance daily metrics CSVs -> open_interest files"
    )
    im.add_argument("files", nargs="+")
    im.add_argument("--datadir", default="user_data/data/binance")
    _import_flags(im)
    il = command(
        isub, "liquidations", _import_liquidations, "forceOrder CSV exports -> the event store"
    )
    il.add_argument("files", nargs="+")
    il.add_argument(
        "--store", default=DEFAULT_STORE, help="event store (LiquiditySweep reads <datadir>/store)"
    )
    il.add_argument("--exchange", default="binance")
    _import_flags(il)

    dsub = group(sub, "download", "download what freqtrade download-data cannot", "download_cmd")
    dq = command(dsub, "quarterlies", _download_quarterlies,
                 "dated quarterly futures candles (for the basis)")  # fmt: skip
    dq.add_argument("--pairs", nargs="+", required=True, help="perps, e.g. BTC/USDT:USDT")
    dq.add_argument("--timeframe", default="1h")
    dq.add_argument("--since", required=True, type=utc_time, help="UTC date")
    dq.add_argument("--until", default=None, type=utc_time, help="UTC date (default: now)")
    dq.add_argument("--datadir", default="user_data/data/binance")
    dq.add_argument("--exchange", default="binance", type=_exchange_id)
    dq.add_argument("--venue-url", default=None, help="download from the local exchange instead")
