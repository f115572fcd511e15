"""The order policy in a real `freqtrade backtesting` (issue 17): with config.execution.json and
every setup taking, entries are priced at the slippage model's expected fill (above the candle
open for a buy, so Freqtrade's own report carries the cost), a parent the recent volume cannot
absorb is worked as TWAP children on later candles, and `perpflow execution costs` prices the
stop exits the backtest filled at the stop level."""

from __future__ import annotations

import pandas as pd
import pytest

from perpflow.execution.backtest_costs import leg_costs, load_trades
from tests.conftest import REPO, run_cli
from tests.integration.ft import latest_backtest_trades, run_freqtrade, write_json

pytestmark = pytest.mark.integration

TAKE_ALL = {"perpflow": {"execution": {
    "patient_tags": [], "children": {"max_participation": 0.001, "max_children": 3,
                                     "window_minutes": 15.0}}}}  # fmt: skip


def test_backtest_prices_entries_and_works_children(demo_datadir, demo_overlay, tmp_path):
    ud = tmp_path / "ud"
    over = write_json(tmp_path / "take_all.json", TAKE_ALL)
    run_freqtrade(
        ["backtesting", "--datadir", str(demo_datadir), "--strategy", "LiquiditySweep",
         "--export", "trades", "--cache", "none", "--pairs", "BTC/USDT:USDT",
         "--timerange", "20260601-20260615"],
        configs=[REPO / "config.execution.json", over, demo_overlay], userdir=ud,
    )  # fmt: skip
    trades = latest_backtest_trades(ud)
    assert len(trades) >= 3, trades
    candles = pd.read_feather(demo_datadir / "futures" / "BTC_USDT_USDT-5m-futures.feather")
    opens = candles.set_index(pd.to_datetime(candles["date"], utc=True))["open"]
    split = 0
    for _, t in trades.iterrows():
        entries = [o for o in t["orders"] if o["ft_is_entry"]]
        first = entries[0]
        at = pd.Timestamp(first["order_filled_timestamp"], unit="ms", tz="UTC")
        sign = -1.0 if t["is_short"] else 1.0
        # the first child filled worse than the candle's open by the model's cost (> 0)
        assert sign * (first["safe_price"] - opens[at]) > 0, (first, opens[at])
        if len(entries) > 1:
            split += 1
            n = int(entries[1]["ft_order_tag"].split("/")[1])
            assert 2 <= len(entries) <= n <= 3
            assert [o["ft_order_tag"] for o in entries[1:]] == [
                f"child {i}/{n}" for i in range(2, len(entries) + 1)]  # fmt: skip
            times = [pd.Timestamp(o["order_filled_timestamp"], unit="ms") for o in entries]
            assert all(
                b - a >= pd.Timedelta(minutes=5) for a, b in zip(times[:-1], times[1:], strict=True)
            )
    assert split >= 1, "no parent was split into children"
    # the stop exits Freqtrade priced at the stop level get the model's cost after the fact
    export = ud / "backtest_results"
    costs = leg_costs(load_trades(export), {"BTC/USDT:USDT": candles}, "5m", legs="stops")
    assert (costs["cost_bps"] > 0).all() and len(costs) == trades["exit_reason"].isin(
        ["stop_loss", "trailing_stop_loss"]).sum()  # fmt: skip
    code = run_cli(["execution", "costs", "--backtest", str(export), "--datadir",
                    str(demo_datadir), "--legs", "all", "--out", str(tmp_path / "legs.csv")])  # fmt: skip
    assert code == 0
    legs = pd.read_csv(tmp_path / "legs.csv")
    assert set(legs["leg"]) >= {"entry"} and len(legs) == 2 * len(trades)
