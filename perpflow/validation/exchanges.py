"""Per-exchange runs: the same strategy and settings on each exchange's own data, side by side,
with the differences that explain the results (funding interval and level, fees, contract
specs, price gaps between the venues).

Each data dir is replayed by the local exchange (Binance's API shape: Freqtrade applies
Binance's contract rules to every run, and each exchange's own taker fee). When a data dir lacks
the study timeframe, finer candles are resampled into a study-local copy (pandas; the original
files are never touched).

Freqtrade charges funding in a futures backtest only where both the funding-rate and the mark
candles exist (it joins them), so a data dir without them would silently run without funding:
`check_inputs` refuses that, and an exchange with no known taker fee, before any backtest runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.files import pair_file, read_optional, read_required
from perpflow.errors import UserError
from perpflow.features.funding import funding_interval_hours, funding_settlements
from perpflow.validation.metrics import summary
from perpflow.validation.study import Variant, run_study, variant_trades

# taker fees of the entry tier (public fee schedules); used as --fee per exchange
TAKER_FEES = {"binance": 0.0005, "bybit": 0.00055, "okx": 0.0005}
# the series Freqtrade joins to charge funding in a backtest (1h on Binance)
FUNDING_INPUTS = ("1h-funding_rate", "1h-mark")
AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def prepare_datadir(src: Path, dst: Path, pairs: list[str], timeframe: str) -> Path:
    """A study-local data dir with `timeframe` candles for `pairs` (copied, or resampled from the
    finest finer timeframe) plus their funding and mark files. Raises naming the missing file."""
    fut = Path(dst) / "futures"
    fut.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        for kind in ("1h-funding_rate", "1h-mark", "1h-futures"):
            f = pair_file(src, pair, kind)
            if f.exists():
                shutil.copy(f, fut / f.name)
        target = pair_file(src, pair, f"{timeframe}-futures")
        if target.exists():
            shutil.copy(target, fut / target.name)
            continue
        finer = [tf for tf in ("1m", "3m", "5m") if pair_file(src, pair, f"{tf}-futures").exists()
                 and pd.Timedelta(timeframe) % pd.Timedelta(tf) == pd.Timedelta(0)]  # fmt: skip
        if not finer:
            raise FileNotFoundError(f"{target} missing and no finer candles to build it from")
        df = read_required(src, pair, f"{finer[-1]}-futures")
        out = df.set_index("date").resample(pd.Timedelta(timeframe), label="left",
                                            closed="left").agg(AGG).dropna().reset_index()  # fmt: skip
        out.to_feather(fut / target.name)
    return Path(dst)


def _in_range(frame: pd.DataFrame | None, start, end) -> pd.DataFrame | None:
    """Rows of `frame` dated in [start, end) (None stays None)."""
    if frame is None:
        return None
    return frame[
        (frame["date"] >= pd.Timestamp(start, tz="UTC"))
        & (frame["date"] < pd.Timestamp(end, tz="UTC"))
    ]


def check_inputs(venues: dict[str, Path], pairs: list[str], timerange: str,
                 fees: dict[str, float] | None = None) -> dict[str, float]:  # fmt: skip
    """The taker fee per exchange (`fees`, else the public schedule); UserError naming every
    data file that is missing or holds no rows in the timerange (funding rate and mark candles:
    without them Freqtrade applies no funding) and every exchange without a known fee."""
    start, end = (pd.Timestamp(x) for x in timerange.split("-"))
    problems, taker = [], {}
    for ex, src in venues.items():
        fee = (fees or {}).get(ex, TAKER_FEES.get(ex))
        if fee is None:
            problems.append(
                f"no taker fee known for {ex!r}: pass --fee {ex}=0.0005 (its taker fee)"
            )
        taker[ex] = fee
        for pair in pairs:
            for kind in FUNDING_INPUTS:
                rows = _in_range(read_optional(Path(src), pair, kind), start, end)
                if rows is None or rows.empty:
                    state = "missing" if rows is None else f"has no rows in {timerange}"
                    problems.append(f"{pair_file(Path(src), pair, kind)} {state}")
    if problems:
        raise UserError("validate exchanges cannot compare like with like: " + "; ".join(problems)
                        + " (Freqtrade charges funding only where both funding_rate and mark "
                        "candles exist: download them, e.g. freqtrade download-data "
                        "--candle-types funding_rate mark)")  # fmt: skip
    return taker


def funding_profile(datadir: Path, pair: str, start, end) -> dict:
    """Funding interval in force (modal, hours, to the minute) and mean rate per settlement in
    [start, end)."""
    raw = read_optional(datadir, pair, "1h-funding_rate")
    if raw is None:
        return {"funding_interval_h": np.nan, "funding_mean_bps": np.nan}
    s = _in_range(funding_settlements(raw), start, end)
    # settlement stamps a few ms off the hour would give 0.999992 h: round to the minute
    iv = (funding_interval_hours(s).dropna() * 60).round() / 60
    return {"funding_interval_h": float(iv.mode().iloc[0]) if len(iv) else np.nan,
            "funding_mean_bps": 1e4 * float(s["funding_rate"].mean()) if len(s) else np.nan}  # fmt: skip


def bybit_specs(instruments_json: Path, symbols: list[str]) -> dict[str, dict]:
    """Tick, step and minimum quantity per symbol from a Bybit instruments-info response."""
    data = json.loads(Path(instruments_json).read_text())["result"]["list"]
    out = {}
    for row in data:
        if row["symbol"] in symbols:
            out[row["symbol"]] = {"tick": float(row["priceFilter"]["tickSize"]),
                                  "step": float(row["lotSizeFilter"]["qtyStep"]),
                                  "min_qty": float(row["lotSizeFilter"]["minOrderQty"])}  # fmt: skip
    return out


def price_gap_bps(a: Path, b: Path, pair: str, timeframe: str, start, end) -> float:
    """Median |close_a / close_b - 1| in bps over the candles both venues have."""
    fa = read_required(a, pair, f"{timeframe}-futures")
    fb = read_required(b, pair, f"{timeframe}-futures")
    m = fa.merge(fb, on="date", suffixes=("_a", "_b"))
    m = m[(m["date"] >= pd.Timestamp(start, tz="UTC")) & (m["date"] < pd.Timestamp(end, tz="UTC"))]
    return float(((m["close_a"] / m["close_b"] - 1).abs() * 1e4).median()) if len(m) else np.nan


def compare(venues: dict[str, Path], *, pairs: list[str], timerange: str, timeframe: str,
            out: Path, config: Path, overlay: dict | None = None, workers: int = 2,
            progress: bool = True, fees: dict[str, float] | None = None,
            scheduler: str | None = None) -> pd.DataFrame:  # fmt: skip
    """Backtest the same settings on each exchange's data (inputs checked first, see
    `check_inputs`); one row per exchange and pair; `scheduler`: see `run_study`."""
    taker = check_inputs(venues, pairs, timerange, fees)
    start, end = (pd.Timestamp(x) for x in timerange.split("-"))
    dirs = {ex: prepare_datadir(src, Path(out) / "data" / ex, pairs, timeframe)
            for ex, src in venues.items()}  # fmt: skip
    base = {"timeframe": timeframe, **(overlay or {})}
    for ex, d in dirs.items():
        run_study([Variant(f"ex-{ex}", timerange, base, fee=taker[ex], meta={"exchange": ex})],
                  study_dir=out, datadir=d, pairs=pairs, workers=workers, progress=progress,
                  config=config, scheduler=scheduler)  # fmt: skip
    rows = []
    names = list(dirs)
    for ex, d in dirs.items():
        trades = variant_trades(out, f"ex-{ex}")
        for pair in pairs:
            t = trades[trades["pair"] == pair] if len(trades) else trades
            s = summary(t, starting_balance=_balance(out, ex), start=start, end=end)
            other = next((n for n in names if n != ex), None)
            rows.append({
                "exchange": ex, "pair": pair, "trades": s["trades"],
                "profit_pct": s["profit_pct"], "max_drawdown": s["max_drawdown"],
                "win_rate": s["win_rate"], "funding_paid": float(-t["funding_fees"].sum()) if len(t) else 0.0,
                "taker_fee": taker[ex],
                **funding_profile(d, pair, start, end),
                "price_gap_bps_vs_other": price_gap_bps(d, dirs[other], pair, timeframe, start, end)
                if other else np.nan,
            })  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(Path(out) / "exchanges.csv", index=False)
    (Path(out) / "explanation.txt").write_text("\n".join(explain(table)) + "\n")
    return table


def explain(table: pd.DataFrame) -> list[str]:
    """Plain sentences on what differs between the exchanges, per pair."""
    lines = []
    for pair, g in table.groupby("pair"):
        g = g.set_index("exchange")
        if len(g) < 2:
            continue
        a, b = g.index[:2]
        ra, rb = g.loc[a], g.loc[b]
        lines.append(f"{pair}: {a} {ra['profit_pct']:+.1%} ({int(ra['trades'])} trades) vs {b} "
                     f"{rb['profit_pct']:+.1%} ({int(rb['trades'])} trades).")  # fmt: skip
        fee_gap = 2 * (rb["taker_fee"] - ra["taker_fee"])
        lines.append(f"  fees: taker {ra['taker_fee']:.3%} vs {rb['taker_fee']:.3%}, i.e. "
                     f"{fee_gap:+.3%} of notional per round trip on {b}.")  # fmt: skip
        lines.append(f"  funding: every {_hours(ra['funding_interval_h'])} vs {_hours(rb['funding_interval_h'])}, "
                     f"mean {ra['funding_mean_bps']:.2f} vs {rb['funding_mean_bps']:.2f} bp per "
                     f"settlement; paid {ra['funding_paid']:.2f} vs {rb['funding_paid']:.2f}.")  # fmt: skip
        lines.append(f"  prices: median close gap {ra['price_gap_bps_vs_other']:.2f} bp, enough to move "
                     "stops and sweep triggers, so the trade lists differ.")  # fmt: skip
    return lines


def _hours(value: float) -> str:
    """An interval in hours as said aloud: "8 h", "0.5 h", or "unknown"."""
    return "unknown" if value != value else f"{round(value, 2):g} h"


def _balance(out: Path, ex: str) -> float:
    res = json.loads((Path(out) / "variants" / f"ex-{ex}" / "result.json").read_text())
    return float(res.get("starting_balance") or 1000.0)
