"""`perpflow research events`: the event study (which reads carry information, measured
honestly); registered under the `research` group by `perpflow.cli.research`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from perpflow.cli.args import DEFAULT_DEMO_DIR, command, positive
from perpflow.errors import UserError
from perpflow.timeframes import TIMEFRAMES

REAL_DATA = Path("../shared/data/binance")


def _default_datadir() -> str:
    return str(REAL_DATA if REAL_DATA.exists() else DEFAULT_DEMO_DIR)


def _pairs_with_candles(datadir: Path, timeframe: str) -> list[str]:
    """Freqtrade pairs of every `<PAIR>-<timeframe>-futures.feather` in `<datadir>/futures`
    (dated contracts excluded)."""
    files = sorted((datadir / "futures").glob(f"*_USDT_USDT-{timeframe}-futures.feather"))
    return [f"{f.name.split('_USDT_USDT-')[0]}/USDT:USDT" for f in files]


def _check_pairs(datadir: Path, pairs: list[str], timeframe: str) -> None:
    from perpflow.data.files import pair_file

    if not datadir.is_dir():
        raise UserError(f"--datadir {datadir}: no such directory")
    for pair in pairs:
        if not pair_file(datadir, pair, f"{timeframe}-futures").exists():
            raise UserError(f"{pair}: no {timeframe} candles in {datadir} "
                            f"({pair_file(datadir, pair, f'{timeframe}-futures').name} missing)")  # fmt: skip


def _fmt(v: float, spec: str = "+.1f") -> str:
    return "-" if v != v else format(v, spec)


def _events(args: argparse.Namespace) -> int:
    from perpflow.research.study import parse_timerange, run_study

    datadir = Path(args.datadir)
    pairs = args.pairs or _pairs_with_candles(datadir, args.timeframe)
    if not pairs:
        raise UserError(
            f"no {args.timeframe} candles in {datadir}/futures: pass --datadir or --pairs"
        )
    _check_pairs(datadir, pairs, args.timeframe)
    parse_timerange(args.timerange)
    res = run_study(datadir, pairs, out=Path(args.out), timeframe=args.timeframe,
                    timerange=args.timerange, draws=args.draws, min_events=args.min_events,
                    fee=args.fee, seed=args.seed, progress=sys.stderr.isatty())  # fmt: skip
    cells = res.cells
    tested = cells[cells["tested"]]
    surv = int((tested["q"] <= 0.10).sum())
    print(f"{len(res.events)} events over {res.candles} candles of {len(pairs)} pairs; "
          f"{len(tested)} cell x horizon tests ({len(cells)} reported); "
          f"{surv} survive q <= 0.10; {res.seconds:.1f} s")  # fmt: skip
    print(f"{'event':<26}{'pair':<15}{'block':<12}{'regime':<7}{'h':<4}{'n':>7}{'mean bps':>10}"
          f"{'95% CI':>18}{'base':>8}{'q':>8}")  # fmt: skip
    for r in tested.sort_values(["q", "p"], kind="stable").head(args.top).itertuples():
        ci = f"[{_fmt(r.ci_lo_bps)}, {_fmt(r.ci_hi_bps)}]"
        print(f"{r.event:<26}{r.pair:<15}{r.block:<12}{r.regime:<7}{r.horizon:<4}{r.n:>7}"
              f"{_fmt(r.mean_bps):>10}{ci:>18}{_fmt(r.base_bps):>8}{_fmt(r.q, '.3f'):>8}")  # fmt: skip
    print(f"report: {res.report}")
    return 0


def _count(value: str) -> int:
    n = int(positive(value))
    if n != float(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number")
    return n


def _fee(value: str) -> float:
    x = float(positive(value)) if value not in ("0", "0.0") else 0.0
    if x >= 0.01:
        raise argparse.ArgumentTypeError(
            f"--fee {value}: a fraction per side, e.g. 0.0005 for 0.05%"
        )
    return x


def add(rsub) -> None:
    """`perpflow research events`: the event study of issue 16."""
    ev = command(rsub, "events", _events, "event study: every feature event's forward "
                 "returns against a matched random-candle baseline, with BH q-values")  # fmt: skip
    ev.add_argument("--datadir", default=_default_datadir(),
                    help="Freqtrade data dir (default ../shared/data/binance if present, else the demo)")  # fmt: skip
    ev.add_argument("--pairs", nargs="+", default=None,
                    help="default: every pair with candles of --timeframe there")  # fmt: skip
    ev.add_argument("--timeframe", default="5m", choices=TIMEFRAMES)
    ev.add_argument("--timerange", default=None, help="YYYYMMDD-YYYYMMDD (UTC, end exclusive)")
    ev.add_argument("--draws", type=_count, default=1000, help="baseline and bootstrap draws")
    ev.add_argument("--min-events", type=_count, default=30, help="fewer: reported, not tested")
    ev.add_argument("--fee", type=_fee, default=0.0005, help="taker fee per side (0.0005 = 0.05%%)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--top", type=_count, default=15, help="cells printed")
    ev.add_argument("--out", default="user_data/research/events")
