"""Small Freqtrade backtest result files for tests of the tools that read them (the format
Freqtrade's `load_backtest_stats`/`load_backtest_data` read: {"strategy": {name: stats}})."""

from __future__ import annotations

import json
from pathlib import Path

BASE_TRADE = {"pair": "BTC/USDT:USDT", "stake_amount": 100.0, "amount": 0.01,
              "open_date": "2026-05-10 10:00:00+00:00", "close_date": "2026-05-10 12:00:00+00:00",
              "open_rate": 60000.0, "close_rate": 60100.0, "profit_abs": 1.0, "profit_ratio": 0.01,
              "exit_reason": "roi", "is_open": False, "enter_tag": ""}  # fmt: skip
FUTURES_FIELDS = {"leverage": 3.0, "is_short": False, "funding_fees": -0.25}


def write_result(path: Path, *, futures: bool = True, drop: tuple[str, ...] = (), n: int = 3,
                 starting_balance: float = 1000.0) -> Path:  # fmt: skip
    """A result file of `n` trades; `futures` adds leverage/is_short/funding_fees, `drop`
    removes fields from every trade (an export that lacks them)."""
    trades = []
    for i in range(n):
        t = {**BASE_TRADE, **(FUTURES_FIELDS if futures else {})}
        t["open_date"] = f"2026-05-1{i} 10:00:00+00:00"
        t["close_date"] = f"2026-05-1{i} 12:00:00+00:00"
        trades.append({k: v for k, v in t.items() if k not in drop})
    stats = {"trades": trades, "starting_balance": starting_balance, "locks": []}
    path.write_text(json.dumps({"strategy": {"LiquiditySweep": stats}, "strategy_comparison": []}))
    return path
