"""`perpflow validate shadow | parity`: the bot replayed on stored hours against the local
exchange, trade by trade against the backtest of the same hours (`perpflow.validation.parity`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_DEMO_DIR, command, config_files, files_of, positive, utc_time
from perpflow.errors import UserError


def _parity(args: argparse.Namespace) -> int:
    """`validate shadow` (dry-run only) and `validate parity` (dry-run and/or live against the
    venue): exit 1 unless every trade matched."""
    import pandas as pd

    from perpflow.validation.parity import ParitySpec, run_parity

    if not (args.start or args.date):
        raise UserError("give --start (or --date): the stored UTC instant to replay from")
    start = pd.Timestamp(args.start or args.date, tz="UTC")
    hours = args.hours if args.hours is not None else (args.minutes or 60.0) / 60
    spec = ParitySpec(datadir=Path(args.datadir), start=start, end=start + pd.Timedelta(hours=hours),
                      pairs=tuple(args.pairs), out=Path(args.out),
                      configs=tuple(Path(c) for c in files_of(args)), speed=args.speed,
                      throttle_secs=args.throttle)  # fmt: skip
    report = run_parity(spec, tuple(getattr(args, "modes", None) or ("dry",)))
    for mode, r in report["modes"].items():
        print(f"{mode}: backtest {r['backtest_trades']} trades, bot {r['live_trades']}, matched "
              f"{r['matched']}; entry slippage median {r['slippage_bps_median']} bps; "
              f"{r['replayed_hours']:.1f} h in {r['real_seconds']:.0f} s")  # fmt: skip
        for d in r["differences"]:
            print(f"  {d['status']:13s} {d['pair']} {d['side']} {d['candle']}: {d['cause']}")
    print(f"report: {Path(args.out) / 'parity.md'}")
    return 0 if all(r["matched"] == r["backtest_trades"] == r["live_trades"]
                    for r in report["modes"].values()) else 1  # fmt: skip


def register(vsub) -> None:
    """validate shadow, validate parity (into the validate group's sub-parsers)."""
    for name, help_ in (("shadow", "dry-run on replayed stored hours vs the backtest of them"),
                        ("parity", "dry-run and live (against the local exchange) on replayed "
                                   "stored hours vs the backtest of them, trade by trade")):  # fmt: skip
        vs = command(vsub, name, _parity, help_)
        vs.add_argument(
            "--start", default=None, type=utc_time, help="stored UTC instant to replay from"
        )
        vs.add_argument(
            "--date", default=None, type=utc_time, help="(shadow) stored UTC day, from 00:00"
        )
        vs.add_argument("--hours", type=positive, default=None, help="replayed hours (default 1)")
        vs.add_argument("--minutes", type=positive, default=None, help="(shadow) replayed minutes")
        vs.add_argument("--pairs", nargs="+", required=True)
        vs.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
        config_files(vs, ["config.json"], "the bot's configs")
        vs.add_argument("--speed", type=positive, default=1.0, help="simulated clock speed")
        vs.add_argument(
            "--throttle",
            type=int,
            default=None,
            help="the bot's process_throttle_secs (default: the config's)",
        )
        vs.add_argument("--out", required=True)
        if name == "parity":
            vs.add_argument("--modes", nargs="+", choices=["dry", "live"], default=["dry", "live"])
