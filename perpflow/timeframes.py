"""Candle intervals by name, kept apart from the config model so the CLI can offer them as
choices without importing pydantic."""

from __future__ import annotations

# the candle intervals Freqtrade can load for Binance USDT-M futures (ccxt binanceusdm, no 1s)
TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
              "1w", "1M")  # fmt: skip
# the periods Binance serves open-interest history in (and Freqtrade's open_interest candles)
OI_TIMEFRAMES = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
