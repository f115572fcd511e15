"""A small SYNTHETIC demo market (30 days, BTC only) shared by the CLI tests."""

from __future__ import annotations

import pytest

from perpflow.data.demo import generate_demo_market


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-demo")
    generate_demo_market(out, days=30, seed=5, pairs=("BTC/USDT:USDT",))
    return out
