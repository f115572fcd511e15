"""Pictures and reports (`perpflow.reports`): plot structure, sessions profile, report
derivatives, heatmap."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import (
    DEFAULT_DEMO_DIR,
    command,
    config_files,
    files_of,
    group,
    pairs_range,
    utc_time,
)
from perpflow.timeframes import TIMEFRAMES


def _plot_structure(args: argparse.Namespace) -> int:
    from perpflow.reports.structure import plot_structure

    out = args.out or f"user_data/plot/structure-{args.pair.split('/')[0]}-{args.day}.png"
    print(f"wrote {plot_structure(Path(args.datadir), args.pair, args.day, Path(out))}")
    return 0


def _sessions_profile(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.reports.sessions import session_profile

    table = session_profile(Path(args.datadir), args.pairs, args.start, args.end, Path(args.out))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(4).to_string())
    print(f"wrote {args.out}/session_profile.csv and session_profile.png")
    return 0


def _derivatives(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.config_files import perpflow_section
    from perpflow.reports.derivatives import derivatives_report

    table, written = derivatives_report(
        Path(args.datadir), args.pairs, args.start, args.end, perpflow_section(files_of(args)),
        Path(args.out), month=args.month, store=Path(args.store) if args.store else None,
    )  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.map(lambda v: f"{v:.1%}" if isinstance(v, float) and v == v and v <= 1
                        else v).to_string())  # fmt: skip
    for path in [*written[1:], written[0]]:
        print(f"wrote {path}")
    return 0


def _heatmap(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.reports import heatmap_inputs as hi
    from perpflow.reports.heatmap import heatmap_html, heatmap_png

    src = Path(args.book)
    rows = hi.book_rows(
        src, args.symbol, exchange=args.exchange, since=args.since, until=args.until
    )
    book, captures = hi.pick_session(rows, args.session, src=src, symbol=args.symbol)
    if captures > 1:
        print(
            f"{src}: {captures} separate captures of {args.symbol}; drawing --session {args.session}"
        )
    store = src if src.is_dir() else None
    kw = {"store": store, "exchange": args.exchange, "symbol": args.symbol}
    marks = {"trades": hi.prints(args.trades, kind="trades", **kw),
             "liquidations": hi.prints(args.liquidations, kind="liquidations", **kw),
             "events": hi.events(args.events, pair=args.pair, timeframe=args.timeframe)}  # fmt: skip
    span = pd.to_datetime(book.ts, utc=True)
    title = (args.title or f"{args.symbol} resting liquidity, {span.min():%Y-%m-%d %H:%M:%S}"
             f"..{span.max():%H:%M:%S} UTC ({book.bid_px.shape[1]} levels a side)")  # fmt: skip
    out = Path(args.out)
    opts = {"title": title, "time_bins": args.time_bins, "price_bins": args.price_bins, **marks}
    png = heatmap_png(book, out / f"heatmap_{args.symbol}.png", **opts)
    page = heatmap_html(book, out / f"heatmap_{args.symbol}.html", **opts)
    print(f"{len(book)} snapshots; picture: {png}  interactive: {page}")
    return 0


def _heatmap_args(hm: argparse.ArgumentParser) -> None:
    hm.add_argument("--book", required=True, help="snapshots parquet (ts, symbol, bid_px_0, bid_sz_0, ...), "
                    "or an event store recorded by `perpflow record` (its trades and liquidations too)")  # fmt: skip
    hm.add_argument("--exchange", default="binance", help="store: whose books")
    hm.add_argument(
        "--since",
        default=None,
        type=utc_time,
        help="store: from this UTC time (e.g. 2026-11-26T10:00)",
    )
    hm.add_argument("--until", default=None, type=utc_time, help="store: up to this UTC time")
    hm.add_argument("--symbol", required=True)
    hm.add_argument(
        "--session", type=int, default=0, help="which capture, if the file holds several"
    )
    hm.add_argument("--trades", default=None, help="trades CSV/parquet (ts, side, price, amount)")
    hm.add_argument("--liquidations", default=None, help="liquidations CSV/parquet (same columns)")
    hm.add_argument("--events", default=None, help="a `perpflow label` parquet (liquidation-cluster moves, "
                    "sweeps, entries with their outcome) or a CSV of ts,text lines to mark")  # fmt: skip
    hm.add_argument(
        "--pair", default=None, help="label parquet: this pair's events (e.g. BTC/USDT:USDT)"
    )
    hm.add_argument("--timeframe", default="5m", choices=TIMEFRAMES,
                    help="label parquet: candle timeframe")  # fmt: skip
    hm.add_argument("--time-bins", type=int, default=300)
    hm.add_argument("--price-bins", type=int, default=120)
    hm.add_argument("--title", default=None)
    hm.add_argument("--out", default="user_data/plot/heatmap")


def register(sub) -> None:
    """plot structure, sessions profile, report derivatives, heatmap."""
    psub = group(sub, "plot", "pictures of what the features see", "plot_cmd")
    ps = command(
        psub, "structure", _plot_structure, "candles with pools, sweeps, FVGs, profile, sessions"
    )
    ps.add_argument("--pair", required=True, help="e.g. BTC/USDT:USDT")
    ps.add_argument("--day", required=True, type=utc_time, help="UTC date, e.g. 2025-03-10")
    ps.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    ps.add_argument("--out", default=None, help="PNG path (default user_data/plot/...)")

    ssub = group(sub, "sessions", "session statistics", "sessions_cmd")
    sp = command(
        ssub, "profile", _sessions_profile, "volatility, volume, liquidity, slippage per NY block"
    )
    pairs_range(sp)
    sp.add_argument("--out", default="user_data/plot/session_profile")

    rsub = group(sub, "report", "data reports with pictures", "report_cmd")
    rd = command(
        rsub, "derivatives", _derivatives, "funding extremes, OI regimes, basis, liquidations"
    )
    pairs_range(rd)
    rd.add_argument("--month", default=None, help="month to chart, e.g. 2025-03 (default: start)")
    rd.add_argument("--store", default=None, help="event store (default <datadir>/store)")
    config_files(rd, ["config.json"], "settings from the perpflow section")
    rd.add_argument("--out", default="user_data/plot/derivatives")

    hm = command(sub, "heatmap", _heatmap, "resting liquidity over price and time (PNG + HTML)")
    _heatmap_args(hm)
