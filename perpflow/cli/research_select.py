"""`perpflow research select plan | confirm`: the pre-registered selection protocol
(`perpflow.research.select`; docs/selection.md)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from perpflow.cli.args import command, group, scheduler

DEFAULT_DATADIR = "../shared/data/binance"
DEFAULT_OUT = "user_data/research/select"


def _fmt(v) -> str:
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:.4f}"
    return "-" if v is None else str(v)


def _plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.research.select import plan
    from perpflow.research.select_spec import default_pairs

    datadir = Path(args.datadir)
    pairs = args.pairs or default_pairs(datadir)
    out = Path(args.out or Path(DEFAULT_OUT) / Path(args.candidates).stem)
    sel = plan(Path(args.candidates), out=out, datadir=datadir, pairs=pairs,
               config=Path(args.config), workers=args.workers, development=args.development,
               confirmation=args.confirmation, ledger=args.ledger,
               scheduler=args.scheduler)  # fmt: skip
    table = pd.DataFrame(sel["dev_results"])
    cols = ["id", "trades", "profit_pct", "max_drawdown", "sharpe", "daily_sharpe", "t_stat"]
    with pd.option_context("display.width", 160):
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"development {sel['development']}: chose {sel['chosen']['id']} by "
          f"{sel['criterion']['rule']}; {sel['n_trials_dev']} trial(s) on this span")  # fmt: skip
    if sel["pbo_dev"]:
        print(f"PBO over the candidates (CSCV, {sel['pbo_dev']['n_splits']} blocks): "
              f"{sel['pbo_dev']['pbo']:.2f}")  # fmt: skip
    print(f"frozen: {out / 'selection.json'} (confirm it once with `perpflow research select "
          f"confirm --selection {out / 'selection.json'}`)")  # fmt: skip
    return 0


def _confirm(args: argparse.Namespace) -> int:
    from perpflow.research.select import confirm

    res = confirm(Path(args.selection), workers=1,
                  datadir=Path(args.datadir) if args.datadir else None, ledger=args.ledger,
                  scheduler=args.scheduler)  # fmt: skip
    print(f"confirmation {res['confirmation']} of {res['chosen']}: trades {res['trades']}, "
          f"profit {_fmt(100 * res['profit_pct'])}%, Sharpe (annualised) {_fmt(res['sharpe'])}, "
          f"max drawdown {_fmt(100 * res['max_drawdown'])}%")  # fmt: skip
    print(f"trials: {res['n_trials']} ({res['n_trials_dev']} on development, "
          f"{res['n_confirmations']} confirmation(s) on this span)")  # fmt: skip
    for line in res["explain"]:
        print(line)
    if res["pbo_dev"]:
        p = res["pbo_dev"]["pbo"]
        side = "more likely than not" if p > 0.5 else "not more likely than not"
        print(f"PBO {p:.2f} (development candidates): choosing the best in sample is {side} "
              "to pick one below the median out of sample")  # fmt: skip
    print(f"result: {Path(args.selection).resolve().parent / 'confirmation.json'}")
    return 0


def add(rsub) -> None:
    """Register `select plan | confirm` under the `research` group's sub-parsers."""
    ssub = group(rsub, "select", "pre-registered selection: choose on development, confirm once",
                 "select_cmd")  # fmt: skip
    pl = command(ssub, "plan", _plan, "evaluate candidates on the development span, choose by the "
                 "declared criterion and freeze selection.json")  # fmt: skip
    pl.add_argument("--candidates", required=True, help="candidates JSON (docs/selection.md)")
    pl.add_argument("--out", default=None, help=f"study folder (default {DEFAULT_OUT}/<file stem>)")
    pl.add_argument("--datadir", default=DEFAULT_DATADIR)
    pl.add_argument("--pairs", nargs="+", default=None, help="default: every 5m futures pair there")
    pl.add_argument("--config", default="config.json")
    pl.add_argument("--workers", type=int, default=2, help="parallel backtests")
    scheduler(pl)
    pl.add_argument("--development", default=None, help="FIRST..LAST dates (default: the file's, "
                    "else 2025-01-01..2025-09-30)")  # fmt: skip
    pl.add_argument("--confirmation", default=None, help="FIRST..LAST dates (default: the file's, "
                    "else 2025-10-01..2026-02-18)")  # fmt: skip
    pl.add_argument("--ledger", default=None, help="trial ledger (default <out>/../trials.jsonl)")
    co = command(ssub, "confirm", _confirm, "evaluate the frozen choice once on the confirmation "
                 "span, with DSR, PBO and MinTRL")  # fmt: skip
    co.add_argument("--selection", required=True, help="selection.json written by plan")
    co.add_argument("--datadir", default=None, help="default: the one the plan used")
    co.add_argument("--ledger", default=None, help="default: the plan's ledger")
    scheduler(co)
