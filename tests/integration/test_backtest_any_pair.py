"""The real `freqtrade backtesting` on pairs outside the venue's snapshot (derived specs)."""

from __future__ import annotations

import numpy as np
import pytest

from perpflow.venue.overlay import exchange_overlay
from perpflow.venue.server import VenueServer
from tests.integration.ft import latest_backtest_trades, run_freqtrade, write_json
from tests.venue.renamed_market import write_renamed_market

pytestmark = pytest.mark.integration
STEPS = {"BCH/USDT:USDT": 0.001, "LTC/USDT:USDT": 0.1}  # derived from the data's volume decimals


def test_backtest_on_bch_and_ltc_data_dir(tmp_path):
    datadir = write_renamed_market(tmp_path / "data")
    ud = tmp_path / "ud"
    with VenueServer(datadir, port=0) as venue:
        overlay = write_json(tmp_path / "config.venue.json", exchange_overlay(venue.url))
        proc = run_freqtrade(
            ["backtesting", "--datadir", str(datadir), "--strategy", "LiquiditySweep",
             "--export", "trades", "--cache", "none", "--timerange", "20260503-",
             "--pairs", *STEPS],
            configs=[overlay], userdir=ud,
        )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "No pair in whitelist" not in out and "not compatible" not in out
    assert "BACKTESTING REPORT" in proc.stdout
    report = proc.stdout[proc.stdout.index("BACKTESTING REPORT") :]
    assert all(pair in report for pair in STEPS)
    trades = latest_backtest_trades(ud)
    assert len(trades) > 0 and set(trades["pair"]) <= set(STEPS)
    for pair, step in STEPS.items():  # Freqtrade rounded amounts to the served lot step
        amounts = trades.loc[trades["pair"] == pair, "amount"].to_numpy()
        np.testing.assert_allclose(amounts / step, np.round(amounts / step), atol=1e-6)
