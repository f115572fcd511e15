"""Session-block statistics and a sizing scale per NY session block (ny_open 13-16, ny_close
16-21, asia_london 00-07 New York time, `other` the rest).

Per block, from candles of one pair: realised volatility (std of 1-candle log returns,
annualised), mean candle range and quote volume, the price sigma per second; from the
slippage model: the median quote notional within 10 bps of mid (a profile only) and the
modelled cost of a reference order (mean of a buy and a sell of `notional`, best source per
block: profile where one is usable, else the candle proxy), next to the candle proxy's cost.

Sizing scale per block (`block_scales`):

    scale_b = clip(cost_min / cost_b, floor, 1)

with cost_b the block's modelled cost of the reference order and cost_min the cheapest
block's: the cheapest block trades full size (1.0), a block twice as expensive half size, never
below `floor` (default 0.5). A block without a usable cost gets `floor` (fail closed: the
smallest size, never a silent full size). Costs from different sources are not comparable (a
45-second book capture against a year of candles), so `block_table` scales on the modelled cost
only when every block has the same source and on the candle proxy otherwise (`scale_on`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from perpflow.execution.slippage import BLOCKS, SlippageModel
from perpflow.features.sessions import SESSION_NAMES, ny_session_block

DEFAULT_FLOOR = 0.5
DEPTH_BPS = 10.0
YEAR_S = 365 * 86_400


def block_scales(stats: pd.DataFrame | Mapping[str, float], floor: float = DEFAULT_FLOOR,
                 column: str = "cost_bps") -> dict[str, float]:  # fmt: skip
    """scale_b = clip(cost_min / cost_b, floor, 1) per block (module docstring) from a
    block -> cost mapping or a frame indexed by block with a `column` of costs in bps."""
    if not 0 < floor <= 1:
        raise ValueError(f"sizing floor must be in (0, 1], got {floor}")
    cost = stats[column] if isinstance(stats, pd.DataFrame) else pd.Series(stats, dtype="float64")
    cost = cost.astype("float64").where(lambda c: np.isfinite(c) & (c >= 0))
    low = cost.min()
    if not np.isfinite(low):
        return dict.fromkeys(cost.index, float(floor))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cost > 0, low / cost, 1.0)
    scale = np.clip(ratio, floor, 1.0)
    return {b: float(s) if np.isfinite(c) else float(floor)
            for b, s, c in zip(cost.index, scale, cost, strict=True)}  # fmt: skip


def candle_block_stats(candles: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Per block of `candles` (date, high, low, close, volume): `candles`,
    `realised_vol_ann`, `sigma_bps_1s`, `range_bps`, `quote_volume` (means per candle)."""
    from freqtrade.exchange import timeframe_to_seconds

    step = timeframe_to_seconds(timeframe)
    close = candles["close"].astype("float64")
    frame = pd.DataFrame({
        "block": ny_session_block(candles["date"]).map(SESSION_NAMES),
        "ret": np.log(close).diff(), "range_bps": (candles["high"] - candles["low"]) / close * 1e4,
        "quote_volume": candles["volume"] * close,
    })  # fmt: skip
    g = frame.groupby("block")
    sd = g["ret"].std()
    out = pd.DataFrame({
        "candles": g.size(), "realised_vol_ann": sd * np.sqrt(YEAR_S / step),
        "sigma_bps_1s": sd * 1e4 / np.sqrt(step), "range_bps": g["range_bps"].mean(),
        "quote_volume": g["quote_volume"].mean(),
    })  # fmt: skip
    return out.reindex([b for b in BLOCKS if b in out.index])


def _block_cost(model: SlippageModel, pair: str, block: str, row, notional: float,
                latency_s: float) -> dict[str, object]:  # fmt: skip
    """Mean of a buy's and a sell's cost in `block`, and the candle proxy's."""
    kw = {"sigma_bps_1s": row.sigma_bps_1s, "latency_s": latency_s,
          "candle_range_bps": row.range_bps, "candle_quote_volume": row.quote_volume}  # fmt: skip
    costs = [model.cost(pair, block, s, notional, **kw) for s in ("buy", "sell")]
    proxy = [SlippageModel.empty().cost(pair, block, s, notional, **kw) for s in ("buy", "sell")]
    depth = [model.depth_notional(pair, block, s, DEPTH_BPS) for s in ("buy", "sell")]
    prof = model.profile(pair, block)
    sides = ("bid", "ask")
    return {
        "source": costs[0].source,
        "half_spread_bps": np.mean([c.half_spread_bps for c in costs]),
        "impact_bps": np.mean([c.impact_bps for c in costs]),
        "cost_bps": np.mean([c.total_bps for c in costs]),
        "band_low_bps": np.mean([c.band_bps[0] for c in costs]),
        "band_high_bps": np.mean([c.band_bps[1] for c in costs]),
        "extrapolated": any(c.extrapolated for c in costs),
        "candle_cost_bps": np.mean([c.total_bps for c in proxy]),
        f"depth_{DEPTH_BPS:g}bps": min(depth),
        "visible_notional": min(prof.visible[s][1] for s in sides) if prof else np.nan,
        "reach_bps": min(prof.reach_bps[s] for s in sides) if prof else np.nan,
    }


def block_table(candles: pd.DataFrame, timeframe: str, pair: str, *,
                model: SlippageModel | None = None, notional: float = 20_000.0,
                latency_s: float = 1.0, floor: float = DEFAULT_FLOOR,
                scale_on: str = "auto") -> pd.DataFrame:  # fmt: skip
    """One row per block with `candle_block_stats`, the modelled cost of `notional` (module
    docstring), `scale` and `scale_on` ('cost' or 'candles'; 'auto' = cost when every block
    has one source)."""
    model = model or SlippageModel.empty()
    stats = candle_block_stats(candles, timeframe)
    rows = {b: _block_cost(model, pair, b, r, notional, latency_s) for b, r in stats.iterrows()}
    table = stats.join(pd.DataFrame.from_dict(rows, orient="index"))
    if scale_on == "auto":
        scale_on = "cost" if table["source"].nunique() == 1 else "candles"
    if scale_on not in ("cost", "candles"):
        raise ValueError(f"scale_on must be 'auto', 'cost' or 'candles', got {scale_on!r}")
    col = "cost_bps" if scale_on == "cost" else "candle_cost_bps"
    table["scale"] = pd.Series(block_scales(table, floor, column=col))
    table["scale_on"] = scale_on
    table.index.name = "block"
    return table
