"""RiskGuardMixin's entry gates and governor wiring, on a minimal stand-in strategy object
(Freqtrade's own PairLocks, real config, fake data provider)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import PairLocks

from perpflow.config import load_perpflow_config
from perpflow.strategy import failclosed
from perpflow.strategy.risk_callbacks import RiskCallbacksMixin
from perpflow.strategy.risk_guard import RiskGuardMixin

NOW = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # New York 14:00: inside the ny_open block (13-16)


class FakeDP:
    def __init__(self, row: dict, book: dict | None = None):
        self.row, self.book, self.sent = row, book, []
        self._exchange = None

    def get_analyzed_dataframe(self, pair, timeframe):
        return pd.DataFrame([self.row]), None

    def market(self, pair):
        return {"precision": {"price": 0.1}}

    def orderbook(self, pair, depth):
        return self.book

    def send_msg(self, message, *, always_send=False):
        self.sent.append(message)

    def current_whitelist(self):
        return ["BTC/USDT:USDT"]


class FakeWallets:
    def __init__(self, total):
        self.total = total

    def get_total_stake_amount(self):
        return self.total

    def get_total(self, currency):
        return self.total


class Strat(RiskGuardMixin, RiskCallbacksMixin):
    timeframe = "5m"

    def __init__(self, row, *, runmode=RunMode.BACKTEST, book=None, section=None):
        self.pf = load_perpflow_config({"perpflow": section or {}})
        self.config = {"runmode": runmode, "liquidation_buffer": 0.05,
                       "stake_currency": "USDT", "dry_run": True}  # fmt: skip
        self.dp = FakeDP(row, book)
        self.wallets = FakeWallets(10_000.0)


ROW = {"date": pd.Timestamp(NOW), "close": 100.0, "low": 99.0, "high": 101.0, "atr": 0.5,
       "pool_low_level": np.nan, "pool_high_level": np.nan, "rv_pct": 0.5,
       "conviction_long": 0.5, "conviction_short": 0.5, "funding_rate_last": 0.0001,
       "funding_interval_h": 8.0, "session_block": 1, "macro_blackout": False}  # fmt: skip


@pytest.fixture(autouse=True)
def _locks(monkeypatch):
    from freqtrade.persistence import Trade, init_db

    init_db("sqlite://")  # the governor's state store in dry-run/live (Freqtrade's KeyValueStore)
    monkeypatch.setattr(Trade, "get_open_trades", staticmethod(lambda: []))
    PairLocks.use_db = False
    PairLocks.timeframe = "5m"
    PairLocks.reset_locks()
    failclosed.reset()
    yield
    PairLocks.reset_locks()
    PairLocks.use_db = True


def _refusal(strat, side="long", tag="sweep_low"):
    return strat.entry_refusal("BTC/USDT:USDT", 1.0, 100.0, NOW, tag, side)


def test_a_normal_entry_passes():
    assert _refusal(Strat(dict(ROW))) is None


def test_carry_refuses_when_funding_eats_the_edge():
    row = {**ROW, "funding_rate_last": 0.003}  # 0.3% per 8h: a long pays 0.3% over 8h
    assert _refusal(Strat(row)).startswith("carry:")
    assert _refusal(Strat(row), side="short") is None, "the short side is paid, not charged"
    assert _refusal(Strat({**ROW, "funding_rate_last": np.nan})).startswith("carry: funding rate")


def test_macro_and_session_gates():
    assert _refusal(Strat({**ROW, "macro_blackout": True})).startswith("macro:")
    late = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # New York 08:00: no allowed block
    strat = Strat(dict(ROW))
    assert strat.entry_refusal("BTC/USDT:USDT", 1.0, 100.0, late, "sweep_low", "long").startswith(
        "session:"
    )
    assert (
        strat.entry_refusal("BTC/USDT:USDT", 1.0, 100.0, late, "liq_reversal_long", "long") is None
    ), "liquidation reversals keep their handoff timing"
    naive = late.replace(tzinfo=None)  # read as UTC, as pandas reads a naive time
    assert strat.entry_refusal("BTC/USDT:USDT", 1.0, 100.0, naive, "sweep_low", "long").startswith(
        "session:"
    )
    assert (
        _refusal(strat) is None
        and strat.entry_refusal(
            "BTC/USDT:USDT", 1.0, 100.0, NOW.replace(tzinfo=None), "sweep_low", "long"
        )
        is None
    )


def test_book_gate_only_live_and_against_the_normal_spread(caplog):
    wide = {"bids": [[99.0, 100.0]], "asks": [[101.0, 100.0]]}
    assert _refusal(Strat(dict(ROW), book=wide)) is None, "backtests have no book: no check"
    live = Strat(dict(ROW), runmode=RunMode.DRY_RUN, book=wide)
    live._pf_spreads = {"BTC/USDT:USDT": [1.0] * 20}
    assert _refusal(live).startswith("book: spread")
    with caplog.at_level(logging.INFO):
        assert live.confirm_trade_entry("BTC/USDT:USDT", "limit", 1.0, 100.0, "GTC", NOW,
                                        "sweep_low", "long") is False  # fmt: skip
    assert any("entry refused: book" in m for m in live.dp.sent), "alert sent in dry-run/live"
