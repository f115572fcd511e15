"""Named label horizons (in candles of the labelled timeframe). Walk-forward splits reuse the
longest one as their purge gap, so no training label can see into a test window."""

from __future__ import annotations

SWEEP_HORIZON = 96  # 8 h of 5m candles: a sweep resolves into continuation or reversal
LIQUIDATION_HORIZON = 24  # 2 h: "price moved >= 1.5 ATR after a 90th-percentile cluster"
TRIPLE_BARRIER_HORIZON = 48  # 4 h

PURGE_CANDLES = max(SWEEP_HORIZON, LIQUIDATION_HORIZON, TRIPLE_BARRIER_HORIZON)
