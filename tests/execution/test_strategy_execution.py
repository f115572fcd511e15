"""The strategy side of the policy: depth from a live book, the plan kept on a trade."""

from __future__ import annotations

import math

import pytest

from perpflow.strategy.execution import block_name, book_depth
from perpflow.strategy.execution_state import ParentPlan, plan_from_trade, plan_items

BOOK = {"bids": [[99.9, 10], [99.8, 10], [98.0, 100]],
        "asks": [[100.1, 5], [100.2, 5], [102.0, 100]]}  # fmt: skip


def test_book_depth_counts_the_side_an_order_takes_within_the_band():
    # mid 100: 10 bps = 99.9 .. 100.1
    assert book_depth(BOOK, "buy", 10) == pytest.approx(100.1 * 5)
    assert book_depth(BOOK, "sell", 10) == pytest.approx(99.9 * 10)
    assert book_depth(BOOK, "buy", 25) == pytest.approx(100.1 * 5 + 100.2 * 5)
    assert math.isnan(book_depth({"bids": [], "asks": BOOK["asks"]}, "buy", 10))


def test_block_name_is_new_york_time():
    import datetime as dt

    assert block_name(dt.datetime(2026, 1, 15, 19, 0, tzinfo=dt.UTC)) == "ny_open"  # 14:00 EST
    assert block_name(dt.datetime(2026, 7, 15, 19, 0, tzinfo=dt.UTC)) == "ny_open"  # 15:00 EDT
    assert block_name(dt.datetime(2026, 7, 15, 14, 0, tzinfo=dt.UTC)) == "other"


class _Trade:
    def __init__(self):
        self.data = {}

    def set_custom_data(self, key, value):
        self.data[key] = value

    def get_custom_data(self, key):
        return self.data.get(key)


def test_plan_round_trips_through_custom_data_and_partial_plans_are_none():
    plan = ParentPlan(style="taker", children=3, child_mode="twap", child_interval_s=300.0,
                      decision_price=100.0, model_bps=1.5, model_band_lo=-2.0, model_band_hi=6.0,
                      model_source="book", parent_notional=30_000.0, planned_stop=98.0,
                      parent_stake=6_000.0, parent_risk=600.0)  # fmt: skip
    trade = _Trade()
    for k, v in plan_items(plan).items():
        trade.set_custom_data(k, str(v) if isinstance(v, str) else v)
    assert plan_from_trade(trade) == plan
    assert set(trade.data) >= {
        "pf_decision_price",
        "pf_model_bps",
        "pf_model_band_lo",
        "pf_model_band_hi",
        "pf_model_source",
        "pf_parent_notional",
        "pf_children",
    }  # the keys `perpflow execution shortfall` reads
    del trade.data["pf_planned_stop"]
    assert plan_from_trade(trade) is None


def test_block_name_matches_the_column_function_across_daylight_saving():
    import pandas as pd

    from perpflow.features.sessions import SESSION_NAMES, ny_session_block

    d = pd.Series(pd.date_range("2026-03-01", "2026-11-15", freq="37min", tz="UTC"))
    want = ny_session_block(d).map(SESSION_NAMES).tolist()
    assert [block_name(t.to_pydatetime()) for t in d] == want
