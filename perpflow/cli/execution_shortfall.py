"""`perpflow execution shortfall`: implementation shortfall per trade from a bot's Freqtrade
database, against the model the bot recorded (`perpflow.execution.shortfall`), optionally with
the decision prices of a shadow / parity pairing for trades that recorded none."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import command
from perpflow.timeframes import TIMEFRAMES


def _timeframe(df, given: str | None) -> str:
    """--timeframe, else the bot's own (Freqtrade stores it per trade, in minutes), else 5m."""
    if given:
        return given
    minutes = df["timeframe_minutes"].dropna()
    return f"{int(minutes.iloc[0])}m" if len(minutes) else "5m"


def _lend(sf, args: argparse.Namespace):
    """The shortfall frame with the pairing's decision prices for trades without their own."""
    from perpflow.execution.shortfall_shadow import (
        fill_decision,
        read_pairing,
        shadow_shortfall,
        signal_closes,
    )

    tf = _timeframe(sf, args.timeframe)
    m = read_pairing(args.pairing)
    closes = signal_closes(m, Path(args.datadir), tf) if args.datadir else None
    return fill_decision(sf, shadow_shortfall(m, signal_close=closes), tf), tf


def _shortfall(args: argparse.Namespace) -> int:
    from perpflow.execution.shortfall import shortfall, summary
    from perpflow.reports.shortfall import headline, shortfall_report

    sf = shortfall(Path(args.db))
    meta = {"database": str(args.db)}
    if args.pairing:
        sf, tf = _lend(sf, args)
        meta |= {"pairing": str(args.pairing), "timeframe": tf,
                 "decision fallback": "signal candle close" if args.datadir else "backtest entry"}  # fmt: skip
    s = summary(sf)
    paths = shortfall_report(sf, s, Path(args.out), meta=meta)
    print(headline(s))
    for g in s["by_pair"]:
        med = "n/a" if g["median_bps"] is None else f"{g['median_bps']:.2f}"
        print(f"  {g['pair']:<16} trades {g['trades']:>4}  measured {g['measured']:>4}  "
              f"median {med} bps")  # fmt: skip
    print(f"report: {paths['html']}")
    return 0


def add(esub) -> None:
    """Register `shortfall` into the `execution` group's sub-parsers."""
    p = command(esub, "shortfall", _shortfall,
                "implementation shortfall per trade (decision price vs fill VWAP) from the bot's "
                "Freqtrade database, against the bot's slippage model")  # fmt: skip
    p.add_argument("--db", required=True,
                   help="the bot's Freqtrade sqlite database (its db_url, e.g. tradesv3.sqlite)")  # fmt: skip
    p.add_argument("--out", default="user_data/execution/shortfall",
                   help="folder for shortfall.md/.html/.csv, summary.json and the PNGs")  # fmt: skip
    p.add_argument("--pairing", default=None,
                   help="parity.csv of `perpflow validate shadow | parity`: decision prices for "
                        "trades that recorded none (the bot without perpflow's custom data)")  # fmt: skip
    p.add_argument("--datadir", default=None,
                   help="with --pairing: data dir whose candles give the signal candle's close "
                        "(else the backtest's entry price is the decision price)")  # fmt: skip
    p.add_argument("--timeframe", default=None, choices=TIMEFRAMES,
                   help="with --pairing: the bot's timeframe (default: the database's)")  # fmt: skip
