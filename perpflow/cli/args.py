"""Argument helpers shared by the command groups: one-line parse errors, checked argument
types (UTC times, timeranges, fractions) and the common option sets."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

DEFAULT_DEMO_DIR = Path("user_data/data/demo")
DEFAULT_STORE = "user_data/data/binance/store"
DEFAULT_RESULTS = "user_data/backtest_results"


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: what is wrong and where the usage is (exit 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def utc_time(value: str) -> str:
    """A date or date-time pandas reads (e.g. 2026-06-10 or 2026-06-10T06:00), kept as given."""
    import pandas as pd

    try:
        ok = not pd.isna(pd.Timestamp(value))
    except (ValueError, TypeError, OverflowError):
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{value!r} is not a UTC date or time (e.g. 2026-06-10 "
                                         "or 2026-06-10T06:00)")  # fmt: skip
    return value


def timerange(value: str) -> str:
    """YYYYMMDD-YYYYMMDD with the start before the end."""
    m = re.fullmatch(r"(\d{8})-(\d{8})", value)
    if m:
        try:
            ok = utc_time(m[1]) < utc_time(m[2])
        except argparse.ArgumentTypeError:
            ok = False
        if ok:
            return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a timerange START-END of dates, e.g. "
                                     "20250601-20250701")  # fmt: skip


def fraction(value: str) -> float:
    """A number in (0, 1), e.g. 0.05 for 5%."""
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not 0 < x < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a fraction between 0 and 1 (e.g. 0.05)")
    return x


def positive(value: str) -> float:
    """A finite number > 0."""
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not 0 < x < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
    return x


def pairs_range(p: argparse.ArgumentParser) -> None:
    """--pairs, --start, --end (UTC dates, end exclusive) and --datadir."""
    p.add_argument("--pairs", nargs="+", required=True)
    p.add_argument("--start", required=True, type=utc_time, help="UTC date, inclusive")
    p.add_argument("--end", required=True, type=utc_time, help="UTC date, exclusive")
    p.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))


def config_files(p: argparse.ArgumentParser, default: list[str] | None, what: str) -> None:
    """-c/--config FILE (repeatable, later files override earlier ones, as freqtrade -c)."""
    p.add_argument("-c", "--config", action="append", default=None,
                   help=f"config files as given to freqtrade (default {' + '.join(default or [])}); {what}")  # fmt: skip
    p.set_defaults(config_default=default)


def files_of(args: argparse.Namespace) -> list[str]:
    """The -c files given, else the command's default list."""
    return args.config or list(args.config_default or [])


def scheduler(p: argparse.ArgumentParser) -> None:
    """`--scheduler`: every backtest of a study as one Dask task (perpflow.validation.cluster)."""
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT|local",
                   help="run each backtest as a Dask task: on the scheduler at tcp://HOST:PORT "
                   "(`dask scheduler`; data, config and --out on a shared path) or on a local "
                   "cluster of --workers processes (default: a local pool, no Dask)")  # fmt: skip


def command(sub, name: str, func, help: str | None = None, **kwargs) -> Parser:
    """A sub-command parser running `func(args)`; errors name it by its full `prog`."""
    p = sub.add_parser(name, help=help, description=help, **kwargs)
    p.set_defaults(func=func, prog=p.prog)
    return p


def group(sub, name: str, help: str, dest: str):
    """A command group (`perpflow <name> <command>`): its sub-parsers."""
    p = sub.add_parser(name, help=help, description=help)
    return p.add_subparsers(dest=dest, required=True, metavar="COMMAND")
