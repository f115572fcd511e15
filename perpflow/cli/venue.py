"""`perpflow venue serve | run | markets import | markets list`: the local Binance USDT-M
compatible exchange (`perpflow.venue`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_DEMO_DIR, command, group, positive, utc_time


def _private(args: argparse.Namespace):
    from perpflow.venue.runner import private_side

    return private_side(args.api_key_env, state=args.state, wallet=args.wallet,
                        maker_fee=args.maker_fee, taker_fee=args.taker_fee,
                        live=getattr(args, "live", False))  # fmt: skip


def _serve(args: argparse.Namespace) -> int:
    from perpflow.venue.feeds import depth_feed, load_liquidations
    from perpflow.venue.server import serve

    keys, private = _private(args)
    depth = depth_feed(Path(args.datadir), args.depth, rename=args.depth_as,
                       minutes=args.depth_minutes, speed=args.depth_speed,
                       skip_every=args.depth_skip_every)  # fmt: skip
    serve(Path(args.datadir), host=args.host, port=args.port, mode=args.mode,
          runway_days=args.runway_days, liquidations=load_liquidations(args.liquidations),
          liquidation_speed=args.liquidation_speed, depth=depth, api_keys=keys, private=private)  # fmt: skip
    return 0


def _run(args: argparse.Namespace) -> int:
    """The wrapped command's exit code (2 for a Freqtrade configuration error)."""
    from perpflow.venue.runner import run_with_venue

    keys, private = _private(args)
    return run_with_venue(args.command, datadir=Path(args.datadir), mode=args.mode,
                          start=args.start, speed=args.speed, skip_idle=args.skip_idle,
                          live=args.live, keys=keys, private=private)  # fmt: skip


def _markets_import(args: argparse.Namespace) -> int:
    from perpflow.venue.user_markets import import_markets

    for f in args.files:
        print(f"{f} -> {import_markets(Path(f), Path(args.datadir))}")
    return 0


def _markets_list(args: argparse.Namespace) -> int:
    """One line per perpetual served over --datadir: where its spec comes from, its filters,
    and whether the data dir stores it; derived specs also print what was assumed."""
    from perpflow.venue.markets import MarketBook
    from perpflow.venue.spec_derive import stored_perpetuals

    book = MarketBook.load(Path(args.datadir))
    stored = set(stored_perpetuals(Path(args.datadir) / "futures"))
    print(f"{'symbol':<16}{'source':<10}{'status':<10}{'tick':>12}{'step':>12}{'minQty':>12}"
          f"{'minNotional':>12}  data")  # fmt: skip
    for sym, spec in book.items():
        if sym in book.dated or (args.stored and book.file_prefix(sym) not in stored):
            continue
        f = {k: book.filter_value(sym, t, k) for t, k in (("PRICE_FILTER", "tickSize"),
             ("LOT_SIZE", "stepSize"), ("LOT_SIZE", "minQty"), ("MIN_NOTIONAL", "notional"))}  # fmt: skip
        print(f"{sym:<16}{book.sources[sym]:<10}{spec['status']:<10}{f['tickSize']:>12}"
              f"{f['stepSize']:>12}{f['minQty']:>12}{f['notional']:>12}  "
              f"{'stored' if book.file_prefix(sym) in stored else '-'}")  # fmt: skip
        for field, value in book.derived.get(sym, {}).items():
            print(f"    assumed {field}: {value}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR), help="Freqtrade data dir")
    p.add_argument("--mode", choices=["history", "replay"], default="history")
    p.add_argument("--runway-days", type=positive, default=1.0, help="replay: future to play")
    p.add_argument("--api-key-env", default=None, metavar="NAME",
                   help="serve the signed private API and matching engine for the key in env var "
                        "NAME and the secret in NAME with _KEY -> _SECRET (e.g. "
                        "PERPFLOW_VENUE_API_KEY / PERPFLOW_VENUE_API_SECRET)")  # fmt: skip
    p.add_argument(
        "--state",
        default=None,
        help="ledger file (sqlite) the private side persists to and resumes from",
    )
    p.add_argument("--wallet", type=positive, default=10_000.0, help="starting USDT per account")
    p.add_argument("--maker-fee", type=float, default=0.0002)
    p.add_argument("--taker-fee", type=float, default=0.0005)


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8999, help="0 = ephemeral")
    p.add_argument(
        "--liquidations",
        default=None,
        help="forceOrder CSV or event store to stream as !forceOrder@arr",
    )
    p.add_argument("--liquidation-speed", type=positive, default=None,
                   help="replay stored liquidations from the first subscriber, N x fast "
                        "(default: on the replay clock in replay mode, 1x otherwise)")  # fmt: skip
    p.add_argument("--depth", default=None,
                   help="stream <symbol>@depth diffs: 'synthetic', a snapshots parquet, or a raw "
                        "Binance USDT-M capture (.jsonl.zst, replayed with its own update ids)")  # fmt: skip
    p.add_argument("--depth-as", nargs="+", default=None, metavar="CAPTURED=SERVED",
                   help="serve a captured symbol as one of the venue's markets, e.g. "
                        "SUSHIUSDT=BTCUSDT (only these are served)")  # fmt: skip
    p.add_argument("--depth-speed", type=positive, default=1.0)
    p.add_argument("--depth-minutes", type=positive, default=60.0,
                   help="synthetic depth: minutes of 100 ms diffs (at 1x speed)")  # fmt: skip
    p.add_argument(
        "--depth-skip-every",
        type=int,
        default=0,
        help="withhold every Nth depth message (sequence-gap drill)",
    )


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", default=None, type=utc_time,
                   help="replay from this stored UTC instant, the command on the same simulated "
                        "clock (e.g. 2026-06-10T00:00)")  # fmt: skip
    p.add_argument("--speed", type=positive, default=1.0, help="with --start: clock speed")
    p.add_argument(
        "--skip-idle",
        action="store_true",
        help="with --start: the command's idle waits pass at once",
    )
    p.add_argument("--live", action="store_true",
                   help="the command trades live against the venue: a key pair for this run goes "
                        "to its FREQTRADE__EXCHANGE__KEY/SECRET, dry_run off")  # fmt: skip
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- command {overlay} ... (its exit code is returned; a Freqtrade "
                        "configuration error exits 2)")  # fmt: skip


def register(sub) -> None:
    """venue serve | run | markets import | markets list."""
    vsub = group(sub, "venue", "the local Binance USDT-M compatible exchange", "venue_cmd")
    serve = command(vsub, "serve", _serve, "serve a data dir on 127.0.0.1 until Ctrl-C")
    _common(serve)
    _serve_args(serve)
    run = command(vsub, "run", _run, "serve a data dir for the life of a command")
    _common(run)
    _run_args(run)
    msub = group(vsub, "markets", "the contract specs the venue serves", "markets_cmd")
    vmi = command(msub, "import", _markets_import, "real specs from a ccxt markets dump or a "
                  "Binance exchangeInfo JSON into <datadir>/venue_markets.json")  # fmt: skip
    vmi.add_argument("files", nargs="+")
    vmi.add_argument("--datadir", default="user_data/data/binance", help="the venue's data dir")
    vml = command(
        msub, "list", _markets_list, "markets served over a data dir, with each spec's source"
    )
    vml.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    vml.add_argument("--stored", action="store_true", help="only markets the data dir stores")
