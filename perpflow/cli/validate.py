"""`perpflow validate walk-forward | robustness | exchanges | shadow | parity | freqai`: studies
with reports (`perpflow.validation`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli import parity
from perpflow.cli.args import (
    DEFAULT_DEMO_DIR,
    DEFAULT_RESULTS,
    command,
    config_files,
    files_of,
    group,
    positive,
    scheduler,
    timerange,
    utc_time,
)
from perpflow.errors import UserError
from perpflow.timeframes import TIMEFRAMES


def _study_args(args: argparse.Namespace) -> dict:
    return dict(config=Path(args.config), datadir=Path(args.datadir), pairs=args.pairs,
                out=Path(args.out), workers=args.workers, scheduler=args.scheduler,
                ledger=Path(args.ledger) if args.ledger else None)  # fmt: skip


def _overfit_lines(res: dict) -> None:
    """Trials recorded, DSR, PBO and MinTRL of the study (and hyperopt PBO per window)."""
    from perpflow.validation.overfit_report import cli_lines

    hyper = res.get("hyperopt")
    if hyper is not None and len(hyper):
        print(hyper.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for line in cli_lines(res["overfit"]):
        print(line)


def _walk_forward(args: argparse.Namespace) -> int:
    from perpflow.validation import validate

    res = validate.walk_forward(start=args.start, end=args.end, train_months=args.train_months,
                                test_months=args.test_months, purge=args.purge_days,
                                hyperopt_epochs=args.hyperopt_epochs, **_study_args(args))  # fmt: skip
    if len(res["parameters"]):
        print(res["parameters"].to_string())
    print(res["windows"][["window", "test", "trades", "profit_pct", "max_drawdown", "sharpe",
                          "profit_factor"]].to_string(index=False))  # fmt: skip
    _overfit_lines(res)
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def _robustness(args: argparse.Namespace) -> int:
    from perpflow.validation import validate

    res = validate.robustness(timerange=args.timerange, params=args.params, pct=args.pct,
                              joint=args.joint, latency=not args.no_latency, **_study_args(args))  # fmt: skip
    if len(res["verdict"]):
        print(res["verdict"].to_string(index=False))
    print(f"share of perturbed variants still profitable: {res['profitable_share']:.0%}")
    _overfit_lines(res)
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def _name_values(items: list[str] | None, flag: str, cast=str) -> dict:
    """NAME=VALUE items of a repeated flag as a dict."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            out[name] = cast(value) if sep and name and value else None
        except ValueError:
            out[name] = None
        if out[name] is None:
            raise UserError(f"{flag} {item!r}: expected NAME=VALUE, e.g. {flag} binance=...")
    return out


def _exchanges(args: argparse.Namespace) -> int:
    from perpflow.validation.exchanges import compare

    venues = {k: Path(v) for k, v in _name_values(args.venue, "--venue").items()}
    out = Path(args.out)
    table = compare(venues, pairs=args.pairs, timerange=args.timerange, timeframe=args.timeframe,
                    out=out, config=Path(args.config), workers=args.workers,
                    scheduler=args.scheduler, fees=_name_values(args.fee, "--fee", float))  # fmt: skip
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print((out / "explanation.txt").read_text())
    print(f"table: {out / 'exchanges.csv'}")
    return 0


def _freqai(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.ai.importance import models_dir
    from perpflow.config import load_perpflow_config
    from perpflow.config_files import merged_config
    from perpflow.data.backtests import load_backtest
    from perpflow.validation.freqai_report import freqai_study

    config = merged_config(files_of(args))
    result = load_backtest(args.backtest)
    res = freqai_study(
        models_dir=models_dir(config, args.models), trades=result.trades, datadir=Path(args.datadir),
        pairs=args.pairs or sorted(result.trades["pair"].unique()), cfg=load_perpflow_config(config),
        out=Path(args.out), starting_balance=float(config.get("dry_run_wallet", 10000)),
        threshold=float(config.get("freqai", {}).get("win_threshold", 0.5)),
        timeframe=config.get("timeframe", "5m"),
    )  # fmt: skip
    with pd.option_context("display.width", 160):
        print(
            res["oos"][
                [
                    "pair",
                    "test_start",
                    "setups",
                    "positives",
                    "predicted",
                    "precision",
                    "recall",
                    "base_rate",
                ]
            ].to_string(index=False, float_format=lambda v: f"{v:.3f}")
        )
        print(
            res["windows"][
                ["window", "test", "trades", "profit_pct", "max_drawdown", "sharpe"]
            ].to_string(index=False, float_format=lambda v: f"{v:.4f}")
        )
    if "comparison_pooled" in res:
        _print_comparison(res)
    m = res["model"]
    print(
        f"model out-of-sample: precision {m['precision']:.3f} recall {m['recall']:.3f} "
        f"base rate {m['base_rate']:.3f} over {m['setups']} setups; backtest {result.path.name}"
    )
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def _print_comparison(res: dict) -> None:
    """The pooled member comparison and the paired-test verdicts of a FreqAI study."""
    import pandas as pd

    cols = ["member", "windows", "scored", "dropped", "precision", "recall", "base_rate",
            "brier", "log_loss", "brier_skill"]  # fmt: skip
    with pd.option_context("display.width", 160):
        print(res["comparison_pooled"][cols].to_string(index=False,
                                                       float_format=lambda v: f"{v:.4f}"))  # fmt: skip
    for line in res["verdicts"]["verdict"]:
        print(line)


def _study(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pairs", nargs="+", required=True)
    p.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    p.add_argument("--config", default="config.json")
    p.add_argument("--out", required=True, help="study folder (resumable)")
    p.add_argument("--workers", type=int, default=2, help="parallel backtests")
    scheduler(p)
    p.add_argument("--ledger", default=None,
                   help="trial ledger (default <out>/../trials.jsonl): every variant is counted")  # fmt: skip


def _register_studies(vsub) -> None:
    wf = command(vsub, "walk-forward", _walk_forward, "rolling train/test windows, each a backtest")
    _study(wf)
    wf.add_argument("--start", required=True, type=utc_time)
    wf.add_argument("--end", required=True, type=utc_time)
    wf.add_argument("--train-months", type=int, default=3)
    wf.add_argument("--test-months", type=int, default=1)
    wf.add_argument("--purge-days", type=int, default=2,
                    help="gap between train and test (>= the indicator warm-up)")  # fmt: skip
    wf.add_argument("--hyperopt-epochs", type=int, default=0, help="search parameters on each train window with "
                    "Freqtrade's hyperopt (0 = evaluate the config as given)")  # fmt: skip
    rb = command(vsub, "robustness", _robustness, "parameter perturbations, latency and fees")
    _study(rb)
    rb.add_argument("--timerange", required=True, type=timerange, help="YYYYMMDD-YYYYMMDD")
    rb.add_argument("--params", nargs="*", default=None,
                    help="dotted parameter paths (default: every numeric one)")  # fmt: skip
    rb.add_argument("--pct", type=positive, default=0.10)
    rb.add_argument("--joint", type=int, default=0, help="random joint perturbations")
    rb.add_argument("--no-latency", action="store_true")
    ve = command(vsub, "exchanges", _exchanges, "the same settings on each exchange's data")
    ve.add_argument(
        "--venue",
        action="append",
        required=True,
        help="name=datadir, e.g. binance=../shared/data/binance (repeat)",
    )
    ve.add_argument(
        "--fee",
        action="append",
        default=None,
        help="name=taker fee for an exchange without a known schedule, e.g. kraken=0.0005",
    )
    ve.add_argument("--pairs", nargs="+", required=True)
    ve.add_argument("--timerange", required=True, type=timerange)
    ve.add_argument(
        "--timeframe",
        default="15m",
        choices=TIMEFRAMES,
        help="a timeframe every venue has or can build",
    )
    ve.add_argument("--config", default="config.json")
    ve.add_argument("--out", required=True)
    ve.add_argument("--workers", type=int, default=2)
    scheduler(ve)


def register(sub) -> None:
    """validate walk-forward | robustness | exchanges | shadow | parity | freqai."""
    vsub = group(
        sub,
        "validate",
        "walk-forward, robustness, exchange, parity and FreqAI studies",
        "validate_cmd",
    )
    _register_studies(vsub)
    parity.register(vsub)
    vf = command(vsub, "freqai", _freqai, "report a FreqAI backtest's own walk-forward windows")
    config_files(
        vf, ["config.json", "config.freqai.json"], "freqai.identifier names the model folder"
    )
    vf.add_argument("--models", default=None, help="FreqAI model folder (default from identifier)")
    vf.add_argument(
        "--backtest",
        default=DEFAULT_RESULTS,
        help="the FreqAI backtest's result file or folder (newest result)",
    )
    vf.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    vf.add_argument("--pairs", nargs="*", default=None, help="default: the backtest's pairs")
    vf.add_argument("--out", required=True)
