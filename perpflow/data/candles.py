"""Candles of a Freqtrade data dir, for reports and risk tools (never plotting code)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from perpflow.data.files import read_required


def load_candles(datadir: Path, pair: str, timeframe: str = "5m") -> pd.DataFrame:
    """Freqtrade futures candles of `pair` (`<datadir>/futures/<PAIR>-<tf>-futures.feather`);
    FileNotFoundError naming the file when it is absent."""
    return read_required(datadir, pair, f"{timeframe}-futures")
