"""Risk views: `perpflow stress` (can a wick liquidate what the rules allow?) and `perpflow risk
report` (exposure, leverage, funding paid, drawdown against the hard cap)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perpflow.cli.args import (
    DEFAULT_DEMO_DIR,
    DEFAULT_RESULTS,
    command,
    config_files,
    files_of,
    fraction,
    group,
)
from perpflow.errors import UserError


def _stress(args: argparse.Namespace) -> int:
    """Exit 1 when a scenario liquidates a position the rules allow; 2 when it cannot be known."""
    import pandas as pd

    from perpflow.config_files import perpflow_section
    from perpflow.data.backtests import load_backtest
    from perpflow.risk.stress import require_leverage, stress_backtest

    cfg = perpflow_section(files_of(args))
    result = load_backtest(args.backtest)
    require_leverage(result.trades, result.missing, str(result.path))
    table = stress_backtest(result.trades, Path(args.datadir), cfg.risk, wick=args.wick)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".csv"), index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"stress test of {len(result.trades)} trades from {result.path.name} (+ the most "
              "leveraged position the rules allow per pair)")  # fmt: skip
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    bad = table[table["liquidated"] > 0]
    if len(bad):
        print(
            f"FAIL: {len(bad)} scenario(s) liquidate positions the rules allow: "
            + ", ".join(f"{r.scenario} {r.pair}" for r in bad.itertuples()),
            file=sys.stderr,
        )
        return 1
    print(
        f"OK: no scenario liquidates; smallest margin buffer {table['min_margin_buffer'].min():.2%}"
    )
    return 0


def _risk_report(args: argparse.Namespace) -> int:
    from perpflow.reports.risk import (
        cap_lines,
        cap_summary,
        governor_history,
        risk_summary,
        summary_lines,
        trades_from_api,
    )

    result = None
    if args.api_url:
        trades, start, locks = trades_from_api(args.api_url)
        source = args.api_url
    else:
        from perpflow.data.backtests import load_backtest

        result = load_backtest(args.backtest)
        # fields the export lacked hold Freqtrade's fill-ins (leverage 1, funding 0): unknown
        trades = result.trades.drop(columns=sorted(result.missing & {"leverage", "funding_fees"}))
        locks, start = (
            result.stats.get("locks", []),
            float(result.stats.get("starting_balance", 0.0)),
        )
        source = result.path.name
    if not start > 0:
        raise UserError(
            f"{source}: no starting balance recorded, so risk cannot be expressed as a "
            "share of equity; use a result exported by freqtrade backtesting"
        )
    summary = risk_summary(trades, starting_balance=start, locks=locks)
    print(f"risk report for {source} (starting balance {start:,.2f})")
    print("\n".join(summary_lines(summary)))
    if result is not None:
        hist = governor_history(result.path, result.strategy, result.stats)
        closed = float(result.stats.get("max_drawdown_account", float("nan")))
        summary["cap"] = cap_summary(hist, starting_balance=start, closed_drawdown=closed)
        print("\n".join(cap_lines(summary["cap"], hist is not None)))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")
    return 0


def register(sub) -> None:
    """stress, risk report."""
    st = command(
        sub, "stress", _stress, "can a wick liquidate what the rules allow? (exit 1 if so)"
    )
    st.add_argument(
        "--backtest", default=DEFAULT_RESULTS, help="backtest result file or folder (newest result)"
    )
    st.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    config_files(st, ["config.json"], "settings from the perpflow section")
    st.add_argument("--wick", type=fraction, default=0.05, help="adverse wick size (0.05 = 5%%)")
    st.add_argument("--out", default="user_data/plot/stress")

    rksub = group(sub, "risk", "risk views", "risk_cmd")
    rr = command(rksub, "report", _risk_report, "exposure, leverage, funding paid, drawdown")
    rr.add_argument(
        "--backtest", default=DEFAULT_RESULTS, help="backtest result file or folder (newest result)"
    )
    rr.add_argument("--api-url", default=None, help="a running bot, e.g. http://127.0.0.1:8080")
    rr.add_argument("--out", default=None, help="also write the summary as JSON")
