"""Shadow mode: the bot in dry-run against the local exchange replaying a chosen historical day
(at the current time of day), then a backtest of the same stored period, trade by trade.

What it measures: for every trade both made (same pair and side, entries within one candle of
each other after undoing the replay shift) the entry slippage of the dry-run fill against the
backtest fill in bps (positive = the dry-run paid more), the trades only one of them made, and
the funding each booked. Against the real exchange the recipe is the same without the venue:
run `freqtrade trade --dry-run` on live data, then backtest the same hours once the candles are
downloaded, and call `compare_fills` on the two trade lists.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["pair", "is_short", "open_date", "open_rate", "close_date", "close_rate",
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


def run_shadow(*, datadir: Path, replay_date: str, minutes: float, pairs: list[str],
               config: Path, out: Path, timeframe: str | None = None) -> dict:  # fmt: skip
    """Run the dry-run shadow for `minutes`, backtest the same stored hours, compare; writes
    `<out>/shadow.json` and `<out>/matched.csv`."""
    from tqdm import tqdm

    from perpflow.validation.study import Variant, run_study, variant_trades
    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tf = timeframe or json.loads(Path(config).read_text()).get("timeframe", "5m")
    db = out / "shadow.sqlite"
    db.unlink(missing_ok=True)
    with VenueServer(Path(datadir), mode="replay", replay_date=replay_date) as venue:
        shift = pd.Timedelta(milliseconds=venue.venue.clock.shift_ms)
        (out / "venue.json").write_text(json.dumps(exchange_overlay(venue.url)))
        (out / "dry.json").write_text(json.dumps({
            "timeframe": tf, "db_url": f"sqlite:///{db}", "initial_state": "running",
            "internals": {"process_throttle_secs": 2}, "pairlists": [{"method": "StaticPairList"}],
            "exchange": {"pair_whitelist": pairs},
        }))  # fmt: skip
        cmd = [str(Path(sys.executable).parent / "freqtrade"), "trade", "--dry-run",
               "-c", str(config), "-c", str(out / "venue.json"), "-c", str(out / "dry.json"),
               "--userdir", str(out / "ud"), "--strategy-path", str(REPO / "strategies")]  # fmt: skip
        (out / "ud").mkdir(exist_ok=True)
        started = pd.Timestamp.now(tz="UTC")
        with (out / "freqtrade.log").open("w") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
            for _ in tqdm(range(int(minutes * 60)), desc="shadow dry-run", unit="s", mininterval=10):
                if proc.poll() is not None:
                    break
                time.sleep(1)
            proc.send_signal(signal.SIGINT)
            proc.wait(120)
        ended = pd.Timestamp.now(tz="UTC")
    shadow = dry_run_trades(db) if db.exists() else pd.DataFrame(columns=COLUMNS)
    lo, hi = (started - shift).normalize(), (ended - shift).normalize() + pd.Timedelta(days=1)
    run_study([Variant("backtest", f"{lo:%Y%m%d}-{hi:%Y%m%d}", {"timeframe": tf,
               "exchange": {"pair_whitelist": pairs}})], study_dir=out, datadir=Path(datadir),
              pairs=pairs, progress=False, config=config)  # fmt: skip
    bt = variant_trades(out, "backtest")
    if len(bt):  # only the hours the shadow ran
        opened = pd.to_datetime(bt["open_date"], utc=True)
        bt = bt[(opened >= started - shift - pd.Timedelta(tf)) & (opened <= ended - shift)]
    matched, summary = compare_fills(shadow, bt, shift=shift, timeframe=tf)
    summary |= {"replay_date": replay_date, "shift_days": shift / pd.Timedelta(days=1),
                "minutes": minutes, "timeframe": tf, "dry_run_exit": proc.returncode}  # fmt: skip
    matched.to_csv(out / "matched.csv", index=False)
    (out / "shadow.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary
