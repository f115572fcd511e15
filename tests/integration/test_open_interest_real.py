"""The OI filter ON over the only real open interest there is (Binance BTC/ETH, October 2025,
the 10 October crash inside it): it lets entries through where OI exists, and
`freqtrade lookahead-analysis` finds no bias with it on (issue 16, item 6)."""

from __future__ import annotations

import pytest

from tests.conftest import shared_data_dir
from tests.integration.ft import lookahead_verdict, run_freqtrade, write_json

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
# the warm-up (2022 5m candles, 7 days) is loaded before the start: OI begins 2025-10-01 00:05
TIMERANGE = "20251008-20251101"


@pytest.fixture(scope="module")
def oi_venue():
    from perpflow.venue.server import VenueServer

    datadir = shared_data_dir("binance")
    if not (datadir / "futures" / "BTC_USDT_USDT-5m-open_interest.feather").exists():
        pytest.skip("../shared/data/binance has no real open interest (October 2025)")
    with VenueServer(datadir, mode="history", port=0) as venue:
        yield datadir, venue


def test_oi_filter_on_real_october_2025_is_free_of_lookahead(oi_venue, tmp_path):
    from perpflow.venue.overlay import exchange_overlay

    datadir, venue = oi_venue
    overlay = write_json(tmp_path / "venue.json", exchange_overlay(venue.url))
    oi_on = write_json(tmp_path / "oi_on.json", {"perpflow": {"filters": {"open_interest": {
        "enabled": True}}, "risk": {"governor": {"backtest_rearm_hours": 24}}}})  # fmt: skip
    export = tmp_path / "lookahead.csv"
    proc = run_freqtrade(
        ["lookahead-analysis", "--datadir", str(datadir), "--strategy", "LiquiditySweep",
         "--pairs", *PAIRS, "--timerange", TIMERANGE, "--minimum-trade-amount", "5",
         "--targeted-trade-amount", "10", "--lookahead-analysis-exportfilename", str(export)],
        configs=[overlay, oi_on], userdir=tmp_path / "ud", timeout=1500,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "open_interest input missing" not in out, "the real OI files were read"
    lookahead_verdict(export, min_signals=5)
