"""The entry callbacks (`leverage`, `custom_stake_amount`, `confirm_trade_entry`) on one shared
risk context per pair and candle, and their fail-closed guards (stand-in strategy object of
tests/test_risk_guard.py: real config, fake data provider and wallet)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pandas as pd
import pytest

from perpflow.strategy import risk_callbacks
from tests.test_risk_guard import NOW, ROW, Strat, _locks  # noqa: F401 (autouse fixture)

PAIR = "BTC/USDT:USDT"


def _enter(strat, rate=100.0, tag="sweep_low", side="long", now=NOW):
    """Freqtrade's order of calls for a new entry: (leverage, stake, confirmed)."""
    lev = strat.leverage(PAIR, now, rate, 1.0, 20.0, tag, side)
    stake = strat.custom_stake_amount(PAIR, now, rate, 1e9, 1.0, 1e6, lev, tag, side)
    amount = stake * lev / rate
    ok = strat.confirm_trade_entry(PAIR, "limit", amount, rate, "GTC", now, tag, side)
    return lev, stake, ok


@pytest.fixture
def built(monkeypatch):
    """Every context built, in order."""
    made = []
    real = risk_callbacks.entry_risk

    def counting(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(risk_callbacks, "entry_risk", counting)
    return made


def test_the_three_entry_callbacks_read_one_context_per_candle(built):
    strat = Strat(dict(ROW))
    lev, stake, ok = _enter(strat)
    assert ok and lev > 1.0 and 0 < stake < 1e6
    assert len(built) == 1, "the stop and caps are computed once for leverage, stake and confirm"
    ctx = built[0]
    assert strat._entry_risk(PAIR, "long", 100.0, "sweep_low") is ctx
    assert lev == ctx.leverage(scale=1.0, exchange_max=20.0)
    assert stake == pytest.approx(ctx.stake(10_000.0, leverage=lev, fee=0.0, scale=1.0))
    # the governor's budget check in confirm sees the stop the stake was sized on
    assert stake * lev * ctx.stop_distance == pytest.approx(0.01 * 10_000.0)

    _enter(strat)  # the same candle again (a live retry): no new computation
    assert len(built) == 1
    strat.dp.row = {**ROW, "date": ROW["date"] + timedelta(minutes=5), "low": 98.0}
    _enter(strat, now=NOW + timedelta(minutes=5))
    assert len(built) == 2 and built[1].stop < ctx.stop, "the next candle gets its own context"
    _enter(strat, rate=101.0, now=NOW + timedelta(minutes=5))
    assert len(built) == 3, "another entry rate is another entry"


def test_a_new_risk_config_drops_the_cached_contexts(built):
    strat = Strat(dict(ROW))
    first = strat._entry_risk(PAIR, "long", 100.0, "sweep_low")
    # a hyperopt epoch's new parameters: a new risk section
    risk = strat.pf.risk.model_copy(update={"stop_atr_buffer": 1.0})
    strat.pf = strat.pf.model_copy(update={"risk": risk})
    second = strat._entry_risk(PAIR, "long", 100.0, "sweep_low")
    assert len(built) == 2 and second.stop < first.stop


def test_a_stake_error_gives_no_entry_and_names_the_pair(caplog):
    class BrokenWallets:
        def get_total_stake_amount(self):
            raise RuntimeError("wallet unavailable")

    strat = Strat(dict(ROW))
    strat.wallets = BrokenWallets()
    with caplog.at_level(logging.INFO):
        stake = strat.custom_stake_amount(PAIR, NOW, 100.0, 500.0, 1.0, 1e6, 2.0, "sweep_low",
                                          "long")  # fmt: skip
    assert stake == 0.0, "Freqtrade would have used the proposed stake"
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert PAIR in line.getMessage() and "custom_stake_amount" in line.getMessage()
    assert "wallet unavailable" in line.getMessage() and line.exc_info is not None


def test_a_leverage_error_refuses_the_entry_in_every_callback(monkeypatch, caplog):
    strat = Strat(dict(ROW))
    calls = []

    def scale():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("governor state unreadable")
        return 1.0

    monkeypatch.setattr(strat, "_risk_scale", scale)
    with caplog.at_level(logging.INFO):
        lev, stake, ok = _enter(strat)
    assert lev == 1.0 and stake == 0.0 and ok is False, "the later callbacks work but refuse"
    assert any(PAIR in r.getMessage() and "leverage failed" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)  # fmt: skip


def test_a_missing_context_fails_closed(caplog):
    strat = Strat(dict(ROW))
    strat.dp.get_analyzed_dataframe = lambda pair, timeframe: (pd.DataFrame(), None)
    with caplog.at_level(logging.INFO):
        assert _enter(strat) == (1.0, 0.0, False)
    why = strat.entry_refusal(PAIR, 1.0, 100.0, NOW, "sweep_low", "long")
    assert why.startswith("risk: no risk context")
    assert any("no risk context; entry skipped" in r.getMessage() for r in caplog.records)


def test_a_context_that_cannot_be_built_fails_closed_once_for_the_candle(monkeypatch, caplog):
    strat = Strat(dict(ROW))
    ticks = []

    def tick(pair):
        ticks.append(pair)
        raise RuntimeError("markets not loaded")

    monkeypatch.setattr(strat, "_tick", tick)
    with caplog.at_level(logging.INFO):
        assert _enter(strat) == (1.0, 0.0, False)
    assert ticks == [PAIR], "the failure stands for the candle: not retried by each callback"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "risk context failed" in errors[0].getMessage()


def test_an_unusable_stop_is_refused_by_confirm_too():
    strat = Strat({**ROW, "atr": float("nan")})  # no ATR: no stop
    assert _enter(strat)[1:] == (0.0, False)
    assert strat.entry_refusal(PAIR, 1.0, 100.0, NOW, "sweep_low", "long") == "risk: no usable stop"


def test_a_confirm_error_refuses_the_entry(monkeypatch, caplog):
    strat = Strat(dict(ROW))

    def broken(*args):
        raise KeyError("funding_interval_h")

    monkeypatch.setattr(strat, "_carry_gate", broken)
    with caplog.at_level(logging.INFO):
        ok = strat.confirm_trade_entry(PAIR, "limit", 1.0, 100.0, "GTC", NOW, "sweep_low", "long")
    assert ok is False, "Freqtrade would have confirmed the entry"
    assert any(PAIR in r.getMessage() and "confirm_trade_entry failed" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)  # fmt: skip
