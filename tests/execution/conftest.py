"""A tiny SYNTHETIC recorded-book store (the demo generator's records, the store's own writer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.data.demo_books import book_rows
from perpflow.data.store import write_events

# 2026-06-01 18:00-19:00 UTC = 14:00-15:00 New York (EDT): the ny_open block
START = "2026-06-01 18:00"


def minute_candles(n: int = 60, start: str = START) -> pd.DataFrame:
    dates = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    return pd.DataFrame({"date": dates, "open": 100 + np.arange(n) * 0.01})


@pytest.fixture(scope="session")
def book_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("exec-store")
    write_events(root, "book", book_rows(minute_candles(), exchange="binance", symbol="BTCUSDT", seed=1),
                 time_col="ts_recv")  # fmt: skip
    return root


@pytest.fixture(scope="session")
def model(book_store):
    from perpflow.execution.calibrate import calibrate, store_captures

    return calibrate(store_captures(book_store, "binance"), exchange="binance")
