"""Freqtrade backtest results as perpflow's risk tools and reports read them.

Freqtrade's loader (`load_backtest_data`) fills fields an export lacks with defaults (leverage
1.0, funding_fees 0.0, is_short False); risk tools must not mistake those for facts, so the
result also says which trade fields the export itself did not carry.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from perpflow.errors import UserError

# trade fields Freqtrade's loader fills in when the export lacks them
FILLED_BY_LOADER = ("leverage", "funding_fees", "is_short")
NO_RESULT_HINT = "run `make backtest` or freqtrade backtesting --export trades first"


@dataclass(frozen=True)
class BacktestResult:
    """One strategy's result: its file, stats and trades, and the trade fields the export
    lacked (`missing`; in `trades` they hold Freqtrade's fill-in defaults)."""

    path: Path
    strategy: str
    stats: dict
    trades: pd.DataFrame
    missing: frozenset[str] = field(default_factory=frozenset)


def result_file(path: str | Path) -> Path:
    """A result file, or the newest result in a results folder (Freqtrade's `.last_result.json`)."""
    from freqtrade.data.btanalysis import get_latest_backtest_filename

    p = Path(path)
    if p.is_dir():
        try:
            p = p / get_latest_backtest_filename(p)
        except ValueError:
            raise UserError(f"{p}: no backtest result in this folder ({NO_RESULT_HINT})") from None
    if not p.is_file():
        raise UserError(f"{p}: no backtest result ({NO_RESULT_HINT})")
    return p


def _missing_fields(raw_trades: list[dict]) -> frozenset[str]:
    """Fields of FILLED_BY_LOADER that some trade of the export lacks (or holds null for)."""
    return frozenset(f for f in FILLED_BY_LOADER
                     if any(t.get(f) is None for t in raw_trades))  # fmt: skip


def load_backtest(path: str | Path, strategy: str | None = None) -> BacktestResult:
    """The result at `path` (file or results folder, see `result_file`) for `strategy` (default:
    the only one in it). UserError naming the file when it cannot be read as a result."""
    from freqtrade.data.btanalysis import load_backtest_data, load_backtest_stats

    p = result_file(path)
    try:
        stats = load_backtest_stats(p)
        per_strategy = stats.get("strategy", {}) if isinstance(stats, dict) else {}
        if not per_strategy:
            raise ValueError("it holds no strategy results")
        name = strategy or next(iter(per_strategy))
        if name not in per_strategy:
            raise ValueError(f"no strategy {name!r} in it (it has {sorted(per_strategy)})")
        trades = load_backtest_data(p, strategy=name)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise UserError(
            f"{p}: not a readable Freqtrade backtest result ({exc}); {NO_RESULT_HINT}"
        ) from None
    raw = per_strategy[name].get("trades") or []
    return BacktestResult(p, name, per_strategy[name], trades, _missing_fields(raw))
