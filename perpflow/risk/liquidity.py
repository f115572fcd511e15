"""Session-block liquidity from candles: realised volatility, volume, Amihud illiquidity and a
square-root-impact slippage estimate per New York session block (used by the stress test and
the `perpflow sessions profile` report).

The slippage estimate is half the mean candle range times sqrt(order / mean candle quote volume):
an estimate from candles, not a measurement (recorded order books replace it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.features.sessions import SESSION_NAMES, ny_session_block

BLOCK_NAMES = SESSION_NAMES
PERIODS_PER_YEAR = 365 * 288


def sqrt_impact_bps(range_bps, quote_volume, order_quote):
    """The square-root candle proxy in bps: half the mean candle range (`range_bps`, bps of
    close) times sqrt(order / mean candle quote volume), the share capped at 1 (an order larger
    than a candle's volume costs at most half a range). Scalars or arrays; NaN in, NaN out."""
    share = np.minimum(order_quote / quote_volume, 1.0)
    return range_bps / 2 * np.sqrt(share)


def block_stats(df: pd.DataFrame, *, order_quote: float = 100_000.0) -> pd.DataFrame:
    """One row per session block of 5m candles `df` (date, high, low, close, volume) with the
    statistics described in the module docstring; `order_quote` sizes the slippage estimate."""
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
    out["slippage_bps"] = sqrt_impact_bps(g["range"].mean() * 1e4, out["quote_volume_mean"],
                                          order_quote)  # fmt: skip
    return out.reindex([b for b in BLOCK_NAMES.values() if b in out.index])
