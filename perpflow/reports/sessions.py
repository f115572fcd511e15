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
import pandas as pd  # noqa: E402

from perpflow.data.files import load_candles  # noqa: E402
from perpflow.risk.liquidity import block_stats  # noqa: E402


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
