"""A small SYNTHETIC demo market (45 days, BTC only: the volatility deciles need 30 days of
history) shared by the event-study tests."""

from __future__ import annotations

import pytest

from perpflow.data.demo import generate_demo_market


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("events-demo")
    generate_demo_market(out, days=45, seed=11, pairs=("BTC/USDT:USDT",))
    return out
