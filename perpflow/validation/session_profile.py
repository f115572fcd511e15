"""`perpflow sessions profile`: per pair and New York session block, how each block trades.

For each pair and block (ny_open 13-16, ny_close 16-21, asia_london 00-07 New York time, and
`other`) over a date range: realised volatility (annualised from 5m log returns), mean volume
per candle (base and quote), a liquidity proxy (Amihud: |return| in bp per million of quote volume) and a
slippage estimate for a reference order by the square-root impact rule: half the mean candle
range times sqrt(order / mean candle quote volume). It is an estimate from candles, not a
measurement: recorded order books (issue 5) replace it. Prints a table, writes CSV and a PNG chart.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from perpflow.data.files import load_candles  # noqa: E402
from perpflow.features.sessions import SESSION_NAMES, ny_session_block  # noqa: E402

BLOCK_NAMES = SESSION_NAMES
PERIODS_PER_YEAR = 365 * 288


def block_stats(df: pd.DataFrame, *, order_quote: float = 100_000.0) -> pd.DataFrame:
    """One row per session block with the statistics described in the module docstring."""
    ret = np.log(df["close"]).diff()
    quote_vol = df["volume"] * df["close"]
    rel_range = (df["high"] - df["low"]) / df["close"]
    frame = pd.DataFrame({
        "block": ny_session_block(df["date"]).map(BLOCK_NAMES), "ret": ret,
        "volume": df["volume"], "quote_volume": quote_vol, "range": rel_range,
        "amihud": ret.abs() * 1e4 / (quote_vol.where(quote_vol > 0) / 1e6),
    }).dropna(subset=["ret"])  # fmt: skip
    g = frame.groupby("block")
    out = pd.DataFrame({
        "candles": g.size(),
        "realised_vol_ann": g["ret"].std() * np.sqrt(PERIODS_PER_YEAR),
        "volume_mean": g["volume"].mean(),
        "quote_volume_mean": g["quote_volume"].mean(),
        "amihud_bps_per_musd": g["amihud"].mean(),
    })  # fmt: skip
    share = np.minimum(order_quote / out["quote_volume_mean"], 1.0)
    out["slippage_bps"] = g["range"].mean() / 2 * np.sqrt(share) * 1e4
    return out.reindex([b for b in BLOCK_NAMES.values() if b in out.index])


def session_profile(datadir: Path, pairs: list[str], start: str, end: str, out_dir: Path):
    """Compute the table for `pairs` in [start, end), write CSV and PNG; return the table."""
    rows = []
    t0, t1 = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    for pair in pairs:
        df = load_candles(datadir, pair)
        df = df[(df["date"] >= t0) & (df["date"] < t1)].reset_index(drop=True)
        if df.empty:
            raise ValueError(f"no {pair} candles between {start} and {end} in {datadir}")
        rows.append(block_stats(df).assign(pair=pair).reset_index())
    table = pd.concat(rows, ignore_index=True).set_index(["pair", "block"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "session_profile.csv")
    _chart(table, out_dir / "session_profile.png", f"{start} to {end}")
    return table


def _chart(table: pd.DataFrame, path: Path, span: str) -> None:
    metrics = ("realised_vol_ann", "quote_volume_mean", "slippage_bps")
    fig, axes = plt.subplots(1, len(metrics), figsize=(15, 4.5))
    for ax, metric in zip(axes, metrics, strict=True):
        table[metric].unstack("block").plot.bar(ax=ax, rot=0)
        ax.set_title(metric.replace("_", " "))
        ax.legend(fontsize=7)
    fig.suptitle(f"Session profiles (New York blocks), {span}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
