"""Session-block sizing scales and the `perpflow execution` commands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.execution.blocks import block_scales, block_table
from tests.conftest import random_candles, run_cli


def test_block_scales_formula():
    s = block_scales({"ny_open": 2.0, "ny_close": 3.0, "asia_london": 10.0, "other": np.nan}, 0.5)
    assert s["ny_open"] == 1.0  # cheapest
    assert s["ny_close"] == pytest.approx(2 / 3)
    assert s["asia_london"] == 0.5  # 0.2 floored
    assert s["other"] == 0.5  # unknown cost: fail closed at the floor
    assert block_scales({"a": np.nan}, 0.3) == {"a": 0.3}
    assert block_scales(pd.DataFrame({"cost_bps": [1.0, 1.0]}, index=["a", "b"]), 0.5) == {
        "a": 1.0,
        "b": 1.0,
    }
    with pytest.raises(ValueError, match="floor"):
        block_scales({"a": 1.0}, 0.0)


def test_block_table_scales_like_with_like(model):
    candles = random_candles(3000, seed=2)
    alone = block_table(candles, "5m", "BTC/USDT:USDT", notional=5_000)
    assert set(alone["source"]) == {"candles"} and set(alone["scale_on"]) == {"cost"}
    assert alone["scale"].max() == 1.0 and alone["scale"].min() >= 0.5
    assert set(alone.index) == {"ny_open", "ny_close", "asia_london", "other"}
    mixed = block_table(candles, "5m", "BTC/USDT:USDT", model=model, notional=5_000)
    assert mixed.loc["ny_open", "source"] == "profile"
    assert set(mixed["scale_on"]) == {"candles"}  # a book profile is not compared with candles
    pd.testing.assert_series_equal(mixed["scale"], alone["scale"])
    assert np.isfinite(mixed.loc["ny_open", "depth_10bps"])
    assert np.isnan(mixed.loc["other", "depth_10bps"])


def test_cli_calibrate_and_blocks(book_store, tmp_path, capsys):
    out = tmp_path / "slippage.json"
    assert run_cli(["execution", "calibrate", "--store", str(book_store), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "BTCUSDT" in text and "ny_open" in text and out.exists()
    datadir = tmp_path / "data"
    (datadir / "futures").mkdir(parents=True)
    random_candles(3000, seed=4).to_feather(
        datadir / "futures" / "BTC_USDT_USDT-5m-futures.feather"
    )
    report = tmp_path / "report.md"
    assert run_cli(["execution", "blocks", "--datadir", str(datadir), "--pair", "BTC/USDT:USDT",
                    "--model", str(out), "--out", str(report)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "ny_open: profile from 180 snapshots" in text
    assert report.exists() and report.with_suffix(".png").stat().st_size > 1000
    assert "| ny_open" in report.read_text()


def test_cli_refusals(book_store, tmp_path):
    with pytest.raises(SystemExit, match="exactly one of --store"):
        run_cli(["execution", "calibrate", "--out", str(tmp_path / "m.json")])
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(SystemExit, match=str(bad)):
        run_cli(["execution", "blocks", "--datadir", str(tmp_path), "--pair", "BTC/USDT:USDT",
                 "--model", str(bad)])  # fmt: skip
    with pytest.raises(SystemExit, match="no recorded book records"):
        run_cli(["execution", "calibrate", "--store", str(book_store), "--exchange", "okx"])
