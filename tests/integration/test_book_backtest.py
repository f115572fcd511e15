"""The book filter through the real `freqtrade` on the SYNTHETIC demo market with SYNTHETIC
recorded books on two venues (`perpflow demo-books`): it removes sweep entries only (the books
carry no signal), reads the store in a backtest, and passes lookahead-analysis."""

from __future__ import annotations

import pytest

from perpflow.data.demo_books import write_demo_books
from tests.integration.ft import (
    latest_backtest_trades,
    lookahead_verdict,
    run_freqtrade,
    write_json,
)

pytestmark = pytest.mark.integration
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
SWEEP_TAGS = {"sweep_low", "sweep_high", "pool_sweep_low", "pool_sweep_high"}


@pytest.fixture(scope="module")
def book_overlay(demo_datadir, tmp_path_factory):
    store = tmp_path_factory.mktemp("books")
    write_demo_books(demo_datadir, PAIRS, start="2026-05-25", end="2026-06-22", store=store)
    book = {"enabled": True, "store": str(store), "cross_exchange": "bybit"}
    return write_json(store.parent / "config.book.json", {"perpflow": {"filters": {"book": book}}})


def _backtest(demo_datadir, configs, ud):
    run_freqtrade(
        ["backtesting", "--datadir", str(demo_datadir), "--strategy", "LiquiditySweep", "--export", "trades",
         "--cache", "none", "--timerange", "20260601-20260620", "--pairs", *PAIRS],
        configs=configs, userdir=ud,
    )  # fmt: skip
    return latest_backtest_trades(ud)


def test_book_filter_removes_sweep_entries_only(demo_datadir, demo_overlay, book_overlay, tmp_path):
    base = _backtest(demo_datadir, [demo_overlay], tmp_path / "base")
    gated = _backtest(demo_datadir, [demo_overlay, book_overlay], tmp_path / "book")
    sweeps = base["enter_tag"].isin(SWEEP_TAGS)
    gated_sweeps = gated["enter_tag"].isin(SWEEP_TAGS)
    assert sweeps.sum() >= 4, "the window needs sweep entries to gate"
    # noise imbalance lets some sweeps through, not all (freed slots may admit a few others)
    assert 0 < gated_sweeps.sum() < sweeps.sum()
    # liquidation-cluster reversals are not book-gated: they still trade
    assert gated["enter_tag"].str.startswith("liq_reversal").any()


def test_book_filter_passes_lookahead_analysis(demo_datadir, demo_overlay, book_overlay, tmp_path):
    export = tmp_path / "lookahead.csv"
    run_freqtrade(
        ["lookahead-analysis", "--datadir", str(demo_datadir), "--strategy", "LiquiditySweep",
         "--pairs", *PAIRS, "--timerange", "20260601-20260620",
         "--minimum-trade-amount", "5", "--targeted-trade-amount", "10",
         "--lookahead-analysis-exportfilename", str(export)],
        configs=[demo_overlay, book_overlay], userdir=tmp_path / "ud", timeout=1200,
    )  # fmt: skip
    lookahead_verdict(export)
