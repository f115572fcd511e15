"""Shadow mode against the real exchange. (On replayed stored hours, `perpflow validate shadow`
and `validate parity` run the bot on the simulated clock: `perpflow.validation.parity`.)

Against the real exchange the recipe is the same without the venue: run `freqtrade trade
--dry-run` on live data, backtest the same hours once the candles are downloaded, and call
`compare_fills` on the two trade lists: for every trade both made (same pair and side, entries
within one candle of each other after undoing any replay shift) the entry slippage of the
dry-run fill against the backtest fill in bps (positive = the dry-run paid more), the trades
only one of them made, and the funding each booked.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["pair", "is_short", "open_date", "open_rate", "amount", "close_date", "close_rate",
           "funding_fees", "enter_tag"]  # fmt: skip


def dry_run_trades(db: Path) -> pd.DataFrame:
    """Trades a dry-run bot stored in its sqlite database (Freqtrade's `trades` table)."""
    with sqlite3.connect(db) as con:
        df = pd.read_sql(f"SELECT {', '.join(COLUMNS)} FROM trades", con)
    for col in ("open_date", "close_date"):
        df[col] = pd.to_datetime(df[col], utc=True, format="mixed")
    df["is_short"] = df["is_short"].astype(bool)
    return df


def compare_fills(shadow: pd.DataFrame, backtest: pd.DataFrame, *, shift: pd.Timedelta,
                  timeframe: str) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """Match dry-run trades (times shifted back by `shift`) to backtest trades of the same pair
    and side whose entry lies within one candle; returns the matched pairs and a summary."""
    tol = pd.Timedelta(timeframe)
    s = shadow.assign(stored_open=pd.to_datetime(shadow["open_date"], utc=True) - shift)
    b = backtest.assign(stored_open=pd.to_datetime(backtest["open_date"], utc=True))
    rows, used = [], set()
    for _, t in s.sort_values("stored_open").iterrows():
        cand = b[(b["pair"] == t["pair"]) & (b["is_short"] == t["is_short"])
                 & ((b["stored_open"] - t["stored_open"]).abs() <= tol) & ~b.index.isin(used)]  # fmt: skip
        if cand.empty:
            continue
        j = (cand["stored_open"] - t["stored_open"]).abs().idxmin()
        used.add(j)
        sign = -1.0 if t["is_short"] else 1.0
        rows.append({"pair": t["pair"], "side": "short" if t["is_short"] else "long",
                     "stored_open": t["stored_open"], "dry_rate": t["open_rate"],
                     "backtest_rate": b.at[j, "open_rate"],
                     "slippage_bps": sign * (t["open_rate"] / b.at[j, "open_rate"] - 1) * 1e4,
                     "dry_funding": t.get("funding_fees", np.nan),
                     "backtest_funding": b.at[j, "funding_fees"] if "funding_fees" in b else np.nan})  # fmt: skip
    matched = pd.DataFrame(rows)
    summary = {
        "dry_run_trades": len(shadow), "backtest_trades": len(backtest), "matched": len(matched),
        "dry_only": len(shadow) - len(matched), "backtest_only": len(backtest) - len(matched),
        "median_slippage_bps": float(matched["slippage_bps"].median()) if len(matched) else np.nan,
        "dry_funding": float(shadow["funding_fees"].sum()) if len(shadow) else 0.0,
    }  # fmt: skip
    return matched, summary
