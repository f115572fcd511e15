"""Risk report figures on hand-made trades (oracles)."""

from __future__ import annotations

import pandas as pd
import pytest

from perpflow.validation.risk_report import max_concurrent_notional, risk_summary


def _trades():
    t = pd.Timestamp("2026-01-01", tz="UTC")
    h = pd.Timedelta(hours=1)
    return pd.DataFrame({
        "pair": ["A", "B", "C"], "stake_amount": [100.0, 200.0, 50.0],
        "leverage": [2.0, 3.0, 4.0], "open_date": [t, t + h, t + 3 * h],
        "close_date": [t + 2 * h, t + 3 * h, t + 4 * h], "profit_abs": [50.0, -300.0, 100.0],
        "is_short": [False, True, False], "funding_fees": [-1.0, 0.5, -2.0],
        "exit_reason": ["stop_loss", "stop_loss", "take_profit_r"],
    })  # fmt: skip


def test_max_concurrent_notional_sweeps_overlaps():
    # A (200) overlaps B (600) for an hour; C opens when B closes: not counted together
    assert max_concurrent_notional(_trades()) == pytest.approx(800.0)


def test_risk_summary_oracle():
    s = risk_summary(_trades(), starting_balance=1_000.0, locks=[
        {"reason": "perpflow drawdown governor: hard cap 10% reached; re-arm: ..."},
        {"reason": "other"}])  # fmt: skip
    assert s["trades"] == 3 and s["longs"] == 2 and s["shorts"] == 1
    assert s["funding_paid"] == pytest.approx(2.5)
    assert s["max_drawdown"] == pytest.approx(300 / 1050)  # peak 1050 -> 750
    assert s["max_exposure_x_balance"] == pytest.approx(0.8)
    assert s["governor_trips"] == 1 and s["exit_reasons"]["stop_loss"] == 2
