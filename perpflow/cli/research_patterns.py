"""`perpflow research patterns`: test the declared session patterns of an events file against
matched random candles (`perpflow.research.patterns*`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_DEMO_DIR, command
from perpflow.timeframes import TIMEFRAMES


def _count(value: str) -> int:
    """A whole number >= 1."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return n


def _patterns(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.research.patterns_report import SHOWN, SURVIVOR_Q, run_patterns

    run = run_patterns(Path(args.events), Path(args.datadir), Path(args.out),
                       timeframe=args.timeframe, draws=args.draws, min_count=args.min_count,
                       seed=args.seed)  # fmt: skip
    surv = run.survivors
    print(f"{run.patterns} patterns declared, {len(run.cells)} pattern x pair cells, "
          f"{run.cells_tested} tested (n >= {args.min_count}), {run.seconds:.0f} s")  # fmt: skip
    print(f"survivors at q <= {SURVIVOR_Q}: {len(surv)}")
    if len(surv):
        with pd.option_context("display.width", 220, "display.max_columns", 20,
                               "display.max_colwidth", 70):  # fmt: skip
            print(surv[SHOWN].round(4).to_string(index=False))
    print(f"wrote {run.parquet}")
    print(f"report: {run.html}")
    return 0


def add(rsub) -> None:
    """Register `patterns` into the `research` group's sub-parsers."""
    p = command(rsub, "patterns", _patterns,
                "session patterns (trigger then outcome) vs matched random candles, BH q-values")  # fmt: skip
    p.add_argument("--events", required=True,
                   help="events.parquet of `perpflow research events` (pair, date, event, dir, block, vol_decile)")  # fmt: skip
    p.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR),
                   help="Freqtrade data dir of the candles the events were found on")  # fmt: skip
    p.add_argument("--timeframe", default="5m", choices=TIMEFRAMES)
    p.add_argument("--draws", type=_count, default=1000,
                   help="matched random-candle draws per instance (the p-value floor is 1/(draws+1))")  # fmt: skip
    p.add_argument("--min-count", type=_count, default=30,
                   help="instances below which a cell is reported but not tested")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="user_data/research/patterns")
