"""Execution commands (`perpflow execution ...`): calibrate the slippage model from recorded books,
the session-block table with a sizing scale per block, the model's cost of the fills a backtest
cannot price, and implementation shortfall (`execution_shortfall`).

Structure: one `_<command>(args)` function per sub-command and `register(sub)` adding each to
the `execution` group (`exsub`); a new sub-command is one more function and one more `command(
exsub, ...)` block in `register`."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_DEMO_DIR, command, group, positive
from perpflow.errors import UserError

DEFAULT_MODEL = "user_data/execution/slippage.json"
WHAT = {"cost": "modelled", "candles": "candle-proxy"}  # what the block scales compare


def _symbols(pairs: list[str] | None) -> list[str] | None:
    from perpflow.data.readers import exchange_symbol

    return [exchange_symbol(p) if "/" in p else p for p in pairs] if pairs else None


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return int(value)


def _calibrate(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.execution.calibrate import calibrate, parquet_captures, store_captures
    from perpflow.execution.report import profile_table

    if bool(args.store) == bool(args.books):
        raise UserError("give exactly one of --store DIR (recorded books) or --books PARQUET")
    if args.books:
        captures = parquet_captures(args.books, _symbols(args.pair))
    else:
        captures = store_captures(args.store, args.exchange, _symbols(args.pair))
    cadence = args.cadence if args.cadence is not None else (1.0 if args.books else 0.0)
    model = calibrate(captures, exchange=args.exchange, min_snapshots=args.min_snapshots,
                      cadence_s=cadence or None, source=str(args.books or args.store))  # fmt: skip
    model.save(args.out)
    table = profile_table(model)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    thin = table[~table["used"]]
    if len(thin):
        print(f"{len(thin)} profile(s) have fewer than {args.min_snapshots} snapshots and are not "
              "used (costs fall back to the candle proxy)")  # fmt: skip
    print(f"wrote {args.out} ({len(model.profiles)} profiles, {args.exchange})")
    return 0


def _blocks(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.data.files import load_candles
    from perpflow.execution.blocks import block_table
    from perpflow.execution.report import write_block_report
    from perpflow.execution.slippage import SlippageModel

    model = SlippageModel.load(args.model) if args.model else SlippageModel.empty()
    candles = load_candles(Path(args.datadir), args.pair, args.timeframe)
    table = block_table(candles, args.timeframe, args.pair, model=model, notional=args.notional,
                        latency_s=args.latency, floor=args.floor)  # fmt: skip
    span = f"{candles['date'].iloc[0]:%Y-%m-%d} .. {candles['date'].iloc[-1]:%Y-%m-%d}"
    notes = [f"{args.pair} {args.timeframe} candles {span} from {args.datadir}; reference order "
             f"{args.notional:,.0f} quote, latency {args.latency:g} s; model "
             f"{args.model or '(none: candle proxy only)'}; scale = clip(cost_min / cost, "
             f"{args.floor:g}, 1) on the {WHAT[table['scale_on'].iloc[0]]} costs"]  # fmt: skip
    notes += [f"{b}: {model.explain(args.pair, b)}" for b in table.index]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(notes[0])
        print(table.to_string(float_format=lambda v: f"{v:,.3f}"))
        print("\n".join(notes[1:]))
    if args.out:
        for path in write_block_report(
            table, Path(args.out), f"Session blocks: {args.pair}", notes
        ):
            print(f"wrote {path}")
    return 0


def _costs(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.data.files import load_candles
    from perpflow.execution.backtest_costs import leg_costs, load_trades, summary
    from perpflow.execution.slippage import SlippageModel

    trades = load_trades(args.backtest)
    model = SlippageModel.load(args.model) if args.model else SlippageModel.empty()
    candles = {
        p: load_candles(Path(args.datadir), p, args.timeframe) for p in trades["pair"].unique()
    }
    costs = leg_costs(trades, candles, args.timeframe, model=model, legs=args.legs)
    s = summary(trades, costs)
    what = "stop exits (Freqtrade fills them at the stop)" if args.legs == "stops" else "every leg"
    print(f"{s['trades']} trades; modelled cost of {what}: {s['legs_priced']} legs priced, "
          f"{s['legs_unpriced']} without model inputs")  # fmt: skip
    print(f"reported profit {s['reported_profit']:,.2f}; modelled extra cost "
          f"{s['modelled_extra_cost']:,.2f}; adjusted profit {s['adjusted_profit']:,.2f}")  # fmt: skip
    with pd.option_context("display.width", 200):
        print(pd.DataFrame(s["by_leg"]).to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        costs.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0


def register(sub) -> None:
    """execution calibrate, blocks, costs and shortfall."""
    from perpflow.cli import execution_shortfall

    exsub = group(
        sub,
        "execution",
        "order policy costs: slippage model, session blocks, backtest costs, shortfall",
        "execution_cmd",
    )
    cal = command(exsub, "calibrate", _calibrate,
                  "per symbol and NY session block book profiles -> slippage model JSON")  # fmt: skip
    cal.add_argument("--store", default=None, help="event store root with recorded `book` records")
    cal.add_argument(
        "--books", default=None, help="a derived top-N book parquet (ts, symbol, levels)"
    )
    cal.add_argument("--exchange", default="binance", help="exchange id (store partition / label)")
    cal.add_argument("--pair", nargs="+", default=None, help="pairs or symbols (default: all)")
    cal.add_argument("--out", default=DEFAULT_MODEL)
    cal.add_argument("--min-snapshots", type=_count, default=30,
                     help="profiles with fewer snapshots are not used (default 30)")  # fmt: skip
    cal.add_argument("--cadence", type=float, default=None,
                     help="sample the books every S seconds (the book as it stood then); 0 takes "
                     "every row as stored (default: 1 for --books update streams, 0 for --store, "
                     "whose records the recorder already sampled)")  # fmt: skip
    bl = command(exsub, "blocks", _blocks, "per NY session block: volatility, depth, cost, scale")
    bl.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    bl.add_argument("--pair", required=True)
    bl.add_argument("--timeframe", default="5m")
    bl.add_argument(
        "--model", default=None, help="slippage model JSON (default: candle proxy only)"
    )
    bl.add_argument("--notional", type=positive, default=20_000.0, help="reference order, quote")
    bl.add_argument("--latency", type=float, default=1.0, help="seconds, for the drift band")
    bl.add_argument("--floor", type=positive, default=0.5, help="smallest sizing scale")
    bl.add_argument("--out", default=None, help="report .md or .html (PNG beside it)")
    co = command(exsub, "costs", _costs, "the model's cost of the fills a backtest left unpriced")
    co.add_argument("--backtest", required=True,
                    help="a `freqtrade backtesting --export trades` result (zip, or its folder)")  # fmt: skip
    co.add_argument(
        "--datadir", default=str(DEFAULT_DEMO_DIR), help="the backtest's data directory"
    )
    co.add_argument("--timeframe", default="5m")
    co.add_argument("--model", default=None, help="slippage model JSON (default: candle proxy)")
    co.add_argument("--legs", choices=("stops", "all"), default="stops",
                    help="stops: stop exits only (a backtest run with config.execution.json); all: "
                    "entries and exits too (a backtest run without it)")  # fmt: skip
    co.add_argument("--out", default=None, help="per-leg costs as CSV")
    execution_shortfall.add(exsub)
