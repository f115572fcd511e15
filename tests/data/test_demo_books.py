"""`perpflow demo-books`: SYNTHETIC recorded books from the demo's 1m candles, readable by the
book filter, priced from what was known when each was taken."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.cli import main
from perpflow.data.demo import generate_demo_market
from perpflow.data.demo_books import OFFSETS_S, write_demo_books
from perpflow.data.store import read_events
from perpflow.features.orderbook import book_from_wide, snapshot_features
from perpflow.strategy.book_signals import load_books


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-books")
    generate_demo_market(out, days=30, seed=5, pairs=("BTC/USDT:USDT",))
    return out


def test_books_are_priced_from_the_minute_open_on_two_venues(demo, tmp_path):
    n = write_demo_books(
        demo, ["BTC/USDT:USDT"], start="2026-05-10", end="2026-05-11", store=tmp_path
    )
    assert n == 2 * 1440 * len(OFFSETS_S)
    books = read_events(tmp_path, "book")
    assert set(books["exchange"]) == {"binance", "bybit"}
    candles = pd.read_feather(demo / "futures" / "BTC_USDT_USDT-1m-futures.feather")
    b = load_books(tmp_path, "binance", "BTCUSDT", pd.Timestamp("2026-05-10", tz="UTC"))
    minute = b["ts_recv"].dt.floor("1min")
    opens = candles.set_index(pd.to_datetime(candles["date"], utc=True))["open"]
    mid = (b["bid_px_0"] + b["ask_px_0"]) / 2
    np.testing.assert_allclose(mid.to_numpy(), opens.reindex(minute).to_numpy(), rtol=1e-9)
    assert ((b["ts_recv"] - minute).dt.total_seconds().isin(OFFSETS_S)).all(), (
        "taken inside the minute"
    )
    f = snapshot_features(
        book_from_wide(b.rename(columns={"ts_recv": "ts"}).drop(columns=["symbol"]))
    )
    assert f["imb_10"].between(-1, 1).all() and f["imb_10"].std() > 0.1, "the imbalance wanders"


def test_demo_books_command_and_errors(demo, tmp_path, capsys):
    assert main(["demo-books", "--datadir", str(demo), "--pairs", "BTC/USDT:USDT", "--start", "2026-05-10",
                 "--end", "2026-05-10 06:00", "--exchanges", "binance", "--store", str(tmp_path)]) == 0  # fmt: skip
    assert "SYNTHETIC books: 1,080 records" in capsys.readouterr().out
    assert main(["demo-books", "--datadir", str(demo), "--pairs", "BTC/USDT:USDT", "--start", "2030-01-01",
                 "--end", "2030-01-02", "--store", str(tmp_path)]) == 2  # fmt: skip
    assert "no 1m candles" in capsys.readouterr().err
    assert (
        main(["demo-books", "--datadir", str(demo), "--start", "2026-05-11", "--end", "2026-05-10"])
        == 2
    )
    assert "not after start" in capsys.readouterr().err
