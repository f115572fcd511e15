"""A small SYNTHETIC demo market (45 days, BTC only: the volatility deciles need 30 days of
history), with SYNTHETIC recorded books over its last 3 days, shared by the event-study tests."""

from __future__ import annotations

import pytest

from perpflow.data.demo import generate_demo_market
from perpflow.data.demo_books import write_demo_books


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("events-demo")
    generate_demo_market(out, days=45, seed=11, pairs=("BTC/USDT:USDT",))
    write_demo_books(out, ["BTC/USDT:USDT"], start="2026-06-11", end="2026-06-15",
                     exchanges=("binance",))  # fmt: skip
    return out
