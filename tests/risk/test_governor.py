"""The drawdown governor's state machine: one running peak, never re-based by time; a trip holds
until `rearm`; the entry budget keeps every stop-out inside the hard cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.risk.governor import DrawdownGovernor, is_governor_lock, lock_reason

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(path=st.lists(st.floats(-0.04, 0.04), min_size=1, max_size=300),
       step_hours=st.sampled_from([0.1, 1.0, 24.0, 24.0 * 7]))  # fmt: skip
def test_the_peak_is_the_running_max_and_a_trip_holds_whatever_the_time(path, step_hours):
    gov = DrawdownGovernor(soft=0.08, hard=0.10, soft_scale=0.5)
    equity, now, high = 10_000.0, T0, 10_000.0
    gov.update(equity, now)
    for r in path:
        equity *= 1 + r
        now += timedelta(hours=step_hours)
        was_tripped = gov.tripped
        gov.update(equity, now)
        high = max(high, equity)
        assert gov.peak == high, "never re-based: the peak is the running maximum"
        dd = 1 - equity / high
        if was_tripped or dd > 0.10 - gov.min_room:  # flat: within min_room counts as reached
            assert gov.tripped and gov.level == "hard" and gov.scale == 0.0
            assert gov.budget(equity, 0.0) == 0.0
        elif dd >= 0.08:
            assert gov.level == "soft" and gov.scale == 0.5


def test_soft_hysteresis_then_trip_then_operator_rearm():
    gov = DrawdownGovernor(soft=0.08, hard=0.10, min_room=0.0)
    assert gov.update(10_000, T0) is None
    assert gov.update(9_150, T0 + timedelta(hours=1)) == "soft"  # 8.5%
    assert gov.update(9_250, T0 + timedelta(hours=2)) is None  # 7.5%: still soft (hysteresis)
    assert gov.update(9_700, T0 + timedelta(hours=3)) == "normal"  # 3% < 4%
    assert gov.update(8_990, T0 + timedelta(hours=4)) == "hard"  # 10.1%
    for days in (1, 2, 30, 365):  # no pause runs out: time never re-arms
        assert gov.update(8_990, T0 + timedelta(days=days)) is None
        assert gov.tripped and gov.peak == 10_000
    event = gov.rearm(8_990, T0 + timedelta(days=400), "operator")
    assert event.kind == "rearm" and event.peak == 10_000 and event.note == "operator"
    assert not gov.tripped and gov.peak == 8_990 and gov.level == "normal"
    assert [e.kind for e in gov.history] == ["soft", "normal", "hard", "rearm"]
    with pytest.raises(ValueError, match="soft"):
        DrawdownGovernor(soft=0.2, hard=0.1)


def test_flat_account_within_min_room_of_the_cap_counts_as_reached():
    gov = DrawdownGovernor(soft=0.08, hard=0.10, min_room=0.0025)
    gov.update(10_000, T0)
    # 9.8% down with a trade open: that trade may still win, no trip
    assert gov.update(9_020, T0 + timedelta(hours=1), open_trades=1) == "soft"
    # flat at 9.8%: 0.2% of room is less than the smallest trade (0.25%): tripped
    assert gov.update(9_020, T0 + timedelta(hours=2), open_trades=0) == "hard"


def test_budget_oracle():
    gov = DrawdownGovernor(soft=0.08, hard=0.10)
    gov.update(10_000, T0)
    gov.update(9_500, T0 + timedelta(hours=1), open_trades=1)
    # floor = 0.9 x 10,000 = 9,000; 9,500 - 200 open risk - 9,000 = 300
    assert gov.budget(9_500, 200.0) == pytest.approx(300.0)
    assert gov.budget(9_500, 600.0) == 0.0
    assert gov.budget(10_500, 0.0) == pytest.approx(10_500 - 0.9 * 10_500), "above the peak"


@settings(max_examples=300, deadline=None)
@given(dd=st.floats(0, 0.0999), open_share=st.floats(0, 0.2), use=st.floats(0, 1))
def test_any_entry_within_the_budget_keeps_every_stop_out_inside_the_cap(dd, open_share, use):
    gov = DrawdownGovernor(soft=0.08, hard=0.10, min_room=0.0)
    gov.update(10_000, T0)
    equity = 10_000 * (1 - dd)
    gov.update(equity, T0 + timedelta(hours=1), open_trades=1)
    open_risk = equity * open_share
    new_risk = use * gov.budget(equity, open_risk)
    worst = equity - open_risk - new_risk  # every open trade and the new one stopped out
    assert 1 - worst / gov.peak <= 0.10 + 1e-9 or new_risk == 0.0


def test_restore_and_lock_reason():
    gov = DrawdownGovernor()
    gov.restore(12_000.0, T0, "2026-01-02")
    assert gov.tripped and gov.level == "hard" and gov.peak == 12_000 and gov.scale == 0.0
    assert gov.update(13_000, T0 + timedelta(days=3)) is None and gov.tripped
    reason = lock_reason(0.1)
    assert is_governor_lock(reason) and "/delete_locks" in reason and "rearm" in reason
    assert not is_governor_lock("perpflow exchange health") and not is_governor_lock(None)
