"""Per-exchange runs: the same settings on Binance and Bybit data (../shared/data), explained."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from perpflow.data.demo import generate_demo_market
from perpflow.validation.exchanges import compare, prepare_datadir
from tests.conftest import REPO, shared_data_dir

pytestmark = pytest.mark.integration


def test_resampled_candles_equal_direct_aggregation(tmp_path):
    src = tmp_path / "src"
    generate_demo_market(src, days=30, seed=2, pairs=("BTC/USDT:USDT",))
    dst = prepare_datadir(src, tmp_path / "dst", ["BTC/USDT:USDT"], "15m")
    got = pd.read_feather(dst / "futures" / "BTC_USDT_USDT-15m-futures.feather")
    one = pd.read_feather(src / "futures" / "BTC_USDT_USDT-1m-futures.feather")
    ref = (
        one.set_index("date")
        .resample("15min")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    )
    assert len(got) == len(ref) == 30 * 96
    np.testing.assert_allclose(got[["open", "high", "low", "close"]], ref[
        ["open", "high", "low", "close"]].to_numpy())  # fmt: skip
    assert (dst / "futures" / "BTC_USDT_USDT-1h-funding_rate.feather").exists()
    with pytest.raises(FileNotFoundError, match="ETH_USDT_USDT-15m-futures.feather missing"):
        prepare_datadir(src, tmp_path / "dst2", ["ETH/USDT:USDT"], "15m")


@pytest.mark.shared_data
def test_binance_vs_bybit_2025_one_month(tmp_path):
    cfg = json.loads((REPO / "config.json").read_text())
    cfg["perpflow"]["filters"]["open_interest"]["enabled"] = False  # no OI in the shared data
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg))
    venues = {"binance": shared_data_dir("binance"), "bybit": shared_data_dir("bybit")}
    table = compare(venues, pairs=["BTC/USDT:USDT"], timerange="20250301-20250401",
                    timeframe="15m", out=tmp_path / "ex", config=config, progress=False)  # fmt: skip
    assert list(table["exchange"]) == ["binance", "bybit"]
    assert (table["trades"] > 0).all()
    assert (table["funding_interval_h"] == 8).all()  # BTC settles every 8 h on both in 2025
    assert table["price_gap_bps_vs_other"].between(0, 20).all()
    text = (tmp_path / "ex" / "explanation.txt").read_text()
    assert "fees: taker 0.050% vs 0.055%" in text and "funding: every 8 h vs 8 h" in text
