"""The governor inside a strategy (stand-in strategy object, Freqtrade's real PairLocks, RPC lock
deletion and KeyValueStore on a real sqlite database): a trip holds whatever the time, only an
operator re-arms it, the state survives a restart, and the entry budget holds the cap."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import KeyValueStore, PairLocks, Trade, init_db
from freqtrade.rpc.rpc import RPC

from perpflow.risk.governor import LOCK_REASON
from perpflow.strategy import failclosed, governor_guard
from perpflow.strategy.governor_state import PEAK_KEY, TRIPPED_KEY
from perpflow.strategy.risk_callbacks import STOP_KEY
from tests.test_risk_guard import NOW, ROW, Strat

PAIR = "BTC/USDT:USDT"


class FakeTrade:
    """An open long with a stored stop (what `_book` reads of Freqtrade's Trade)."""

    def __init__(self, amount=20.0, open_rate=100.0, stop=90.0):
        self.id, self.open_date_utc, self.pair = 1, NOW, PAIR
        self.amount, self.open_rate, self.is_short, self._stop = amount, open_rate, False, stop
        self.fee_open = self.fee_close = 0.0005

    def calc_profit(self, rate):
        return self.amount * (rate - self.open_rate)

    def get_custom_data(self, key):
        return self._stop

    def set_custom_data(self, key, value):
        pass


@pytest.fixture
def db(tmp_path, monkeypatch):
    init_db(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    PairLocks.use_db, PairLocks.timeframe = True, "5m"
    failclosed.reset()
    governor_guard._LIVE_SAMPLES.clear()
    open_trades: list = []
    monkeypatch.setattr(Trade, "get_open_trades", staticmethod(lambda: open_trades))
    yield open_trades
    PairLocks.use_db = True


def _bot(total=10_000.0, runmode=RunMode.DRY_RUN, **governor):
    strat = Strat(dict(ROW), runmode=runmode, book={"bids": [[99.99, 1e4]], "asks": [[100.01, 1e4]]},
                  section={"risk": {"governor": governor}} if governor else None)  # fmt: skip
    strat.wallets.total = total
    return strat


def _loop(strat, when, total=None):
    if total is not None:
        strat.wallets.total = total
    strat.bot_loop_start(current_time=when)


def _trip(strat):
    _loop(strat, NOW, 10_000.0)
    _loop(strat, NOW + timedelta(minutes=5), 8_900.0)  # -11%
    assert strat._governor().tripped


def _governor_locks(now):
    return [lk for lk in PairLocks.get_pair_locks("*", now) if lk.reason.startswith(LOCK_REASON)]


def test_a_trip_holds_whatever_the_time_and_its_lock_says_how_to_rearm(db):
    strat = _bot()
    _trip(strat)
    (lock,) = _governor_locks(NOW + timedelta(minutes=10))
    assert "/delete_locks" in lock.reason and "perpflow.risk.governor.rearm" in lock.reason
    assert any("governor hard" in m and "re-arm" in m for m in strat.dp.sent)
    for days in (1, 2, 30):  # the old governor resumed after 24 h; this one never does by itself
        later = NOW + timedelta(days=days)
        _loop(strat, later, 9_000.0)
        assert strat._governor().tripped and strat._governor().peak == 10_000
        assert _governor_locks(later), "the lock is still there"
        assert strat.entry_refusal(PAIR, 1.0, 100.0, later, "sweep_low", "long").startswith(
            "governor: hard cap 10% reached"
        )
        assert strat.custom_stake_amount(PAIR, later, 100.0, 100.0, 5.0, 1e6, 2.0, "sweep_low",
                                         "long") == 0.0  # fmt: skip


def test_deleting_the_lock_through_freqtrades_rpc_rearms_and_rebases_the_peak(db):
    strat = _bot()
    _trip(strat)
    (lock,) = _governor_locks(NOW + timedelta(minutes=10))
    # what Telegram /delete_locks, FreqUI's Locks view and DELETE /api/v1/locks/{id} call
    RPC._rpc_delete_lock(SimpleNamespace(_rpc_locks=lambda: None), lockid=lock.id)
    later = NOW + timedelta(hours=3)
    _loop(strat, later, 8_800.0)
    gov = strat._governor()
    assert not gov.tripped and gov.peak == 8_800 and gov.history[-1].kind == "rearm"
    assert gov.history[-1].note == "the operator deleted the governor lock"
    assert any("governor rearm" in m and "10,000.00 to the equity 8,800.00" in m
               for m in strat.dp.sent)  # fmt: skip
    assert KeyValueStore.get_value(TRIPPED_KEY) is None
    assert KeyValueStore.get_value(PEAK_KEY) == 8_800
    assert strat.entry_refusal(PAIR, 1.0, 100.0, later, "sweep_low", "long") is None


def test_a_restart_keeps_peak_and_trip_and_sees_a_lock_deleted_while_down(db):
    first = _bot()
    _loop(first, NOW, 10_000.0)
    _loop(first, NOW + timedelta(minutes=5), 10_400.0)
    assert KeyValueStore.get_value(PEAK_KEY) == 10_400
    _loop(first, NOW + timedelta(minutes=10), 9_300.0)  # -10.6% from 10,400
    assert first._governor().tripped
    restarted = _bot(total=9_300.0)  # a new process on the same database
    _loop(restarted, NOW + timedelta(days=2))
    gov = restarted._governor()
    assert gov.tripped and gov.peak == 10_400 and gov.tripped_at == NOW + timedelta(minutes=10)
    (lock,) = _governor_locks(NOW + timedelta(days=2))
    RPC._rpc_delete_lock(SimpleNamespace(_rpc_locks=lambda: None), lockid=lock.id)
    again = _bot(total=9_300.0)
    _loop(again, NOW + timedelta(days=3))
    assert not again._governor().tripped and again._governor().peak == 9_300


def test_the_config_rearm_value_rearms_once_per_new_value(db):
    _trip(_bot())
    reloaded = _bot(total=8_900.0, rearm="2026-06-10T19:00")  # /reload_config: a new strategy
    _loop(reloaded, NOW + timedelta(hours=1))
    gov = reloaded._governor()
    assert (
        not gov.tripped and gov.peak == 8_900 and "rearm='2026-06-10T19:00'" in gov.history[-1].note
    )
    assert not _governor_locks(NOW + timedelta(hours=1)), "the governor lock is released"
    _loop(reloaded, NOW + timedelta(hours=2), 7_900.0)  # -11% from the new peak: trips again
    assert reloaded._governor().tripped
    same = _bot(total=7_900.0, rearm="2026-06-10T19:00")  # the same value left in the config
    _loop(same, NOW + timedelta(hours=3))
    assert same._governor().tripped, "a value already used never re-arms again"
    new = _bot(total=7_900.0, rearm="2026-06-10T22:00")
    _loop(new, NOW + timedelta(hours=4))
    assert not new._governor().tripped


def test_backtests_stay_halted_unless_a_simulated_rearm_is_configured(db):
    PairLocks.use_db = False
    PairLocks.reset_locks()
    halted = _bot(runmode=RunMode.BACKTEST)
    _trip(halted)
    _loop(halted, NOW + timedelta(days=200), 9_000.0)
    assert halted._governor().tripped
    PairLocks.reset_locks()
    study = _bot(runmode=RunMode.BACKTEST, backtest_rearm_hours=24)
    _trip(study)
    _loop(study, NOW + timedelta(hours=23), 9_000.0)
    assert study._governor().tripped
    _loop(study, NOW + timedelta(hours=24, minutes=5), 9_000.0)
    assert not study._governor().tripped and "simulated" in study._governor().history[-1].note
    assert not PairLocks.is_global_lock(NOW + timedelta(hours=25))
    # the next run on the same strategy object (a hyperopt epoch) starts from a fresh governor
    PairLocks.reset_locks()
    _trip(halted)
    _loop(halted, NOW, 9_000.0)
    assert not halted._governor().tripped and halted._governor().peak == 9_000


def test_entries_are_sized_to_the_budget_left_before_the_cap(db):
    strat = _bot(runmode=RunMode.BACKTEST)
    _loop(strat, NOW, 10_000.0)
    db.append(FakeTrade(amount=20.0, open_rate=100.0, stop=90.0))  # 20 x 10 + fee = 200.9 at risk
    strat._set_level(db[-1], STOP_KEY, 90.0)  # a backtest's stop: set by its first custom_stoploss
    _loop(strat, NOW + timedelta(minutes=5), 9_250.0)  # -7.5%: normal, 1% = 92.5 per trade
    budget, why = strat._risk_budget()
    assert why is None and budget == pytest.approx(9_250 - 200.9 - 9_000)
    fee, lev = 0.0005, 2.0
    stake = strat.custom_stake_amount(PAIR, NOW, 100.0, 100.0, 1.0, 1e6, lev, "sweep_low", "long",
                                      fee=fee)  # fmt: skip
    dist = strat._entry_risk(PAIR, "long", 100.0, "sweep_low").stop_distance
    assert 0 < stake * lev * (dist + 2 * fee) <= budget * (1 + 1e-9), "shrunk to the budget"
    # worst case: the open trade and the new one both stopped out, inside the 10% cap
    assert 9_250 - 200.9 - stake * lev * (dist + 2 * fee) >= 9_000 - 1e-6
    oversized = 3 * budget / (dist * 100.0)  # base amount risking 3x the budget
    assert strat.entry_refusal(PAIR, oversized, 100.0, NOW, "sweep_low", "long").startswith(
        "governor: planned risk"
    )
    strat.wallets.total = 9_220.0  # budget 19.1 < a quarter of a 1% trade (23.05)
    assert strat._risk_budget()[1].startswith("governor: risk budget")
    assert strat.custom_stake_amount(PAIR, NOW, 100.0, 100.0, 1.0, 1e6, lev, "sweep_low",
                                     "long") == 0.0  # fmt: skip


def test_the_live_panel_shows_the_state_at_each_candle_close(db):
    strat = _bot()
    _loop(strat, NOW, 10_000.0)
    _loop(strat, NOW + timedelta(minutes=5), 9_500.0)
    candles = pd.Series(pd.to_datetime([NOW - timedelta(minutes=10), NOW - timedelta(minutes=5),
                                        NOW]), name="date")  # fmt: skip
    frame = strat.risk_frame(candles)
    # the candle opened at NOW-5m closed at NOW, when the first sample was taken: it shows;
    # the one before closed before the bot started: nothing made up
    assert frame["pf_drawdown"].isna().tolist() == [True, False, False]
    assert frame["pf_drawdown"].iloc[2] == pytest.approx(0.05)
    assert frame["pf_risk_scale"].iloc[1] == 1.0


def test_a_first_sample_after_the_last_close_is_the_state_it_was_acted_on_with(db):
    """The bot's first loop can come after the close of the candle it then analyses (a candle
    not yet served at the minute's turn): that candle shows the state, older ones nothing."""
    strat = _bot()
    _loop(strat, NOW + timedelta(minutes=1), 10_000.0)  # sample at NOW+1m; last close NOW
    candles = pd.Series(pd.to_datetime([NOW - timedelta(minutes=10), NOW - timedelta(minutes=5)]),
                        name="date")  # fmt: skip
    frame = strat.risk_frame(candles)
    assert frame["pf_drawdown"].isna().tolist() == [True, False]
    assert frame["pf_drawdown"].iloc[1] == 0.0 and frame["pf_risk_scale"].iloc[1] == 1.0
    assert strat.risk_frame(candles).equals(frame)  # kept: the next analysis shows the same
