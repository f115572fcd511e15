"""`validate exchanges` checks its inputs before any backtest (issue 15, item 7): data without
funding-rate or mark candles (Freqtrade would silently charge no funding) and an exchange
without a known fee (the table showed `nan%`) are refused by name; funding intervals are
rounded to the minute (ms-off stamps showed "0.999992 h")."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from perpflow.cli import main
from perpflow.errors import UserError
from perpflow.validation.exchanges import check_inputs, explain, funding_profile

PAIR = "BTC/USDT:USDT"
RANGE = "20260510-20260520"


@pytest.fixture
def venues(small_demo, tmp_path):
    """Two copies of the demo market: `full` as generated, `bare` without funding and mark."""
    full, bare = tmp_path / "full", tmp_path / "bare"
    shutil.copytree(small_demo, full)
    shutil.copytree(small_demo, bare)
    for f in (bare / "futures").glob("*-1h-mark.feather"):
        f.unlink()
    for f in (bare / "futures").glob("*-1h-funding_rate.feather"):
        f.unlink()
    return full, bare


def test_missing_funding_and_mark_are_refused_by_name(venues):
    full, bare = venues
    assert check_inputs({"binance": full}, [PAIR], RANGE) == {"binance": 0.0005}
    with pytest.raises(UserError) as err:
        check_inputs({"binance": full, "bybit": bare}, [PAIR], RANGE)
    msg = str(err.value)
    assert (
        "BTC_USDT_USDT-1h-funding_rate.feather missing" in msg and "1h-mark.feather missing" in msg
    )
    assert str(bare) in msg and str(full) not in msg


def test_data_outside_the_range_and_unknown_fee_are_refused(venues):
    full, _ = venues
    with pytest.raises(UserError, match="has no rows in 20300101-20300201"):
        check_inputs({"binance": full}, [PAIR], "20300101-20300201")
    with pytest.raises(UserError, match=r"no taker fee known for 'mydata': pass --fee mydata="):
        check_inputs({"mydata": full}, [PAIR], RANGE)
    assert check_inputs({"mydata": full}, [PAIR], RANGE, fees={"mydata": 0.0004}) == {
        "mydata": 0.0004
    }


def test_the_command_refuses_before_any_backtest(venues, tmp_path, capsys):
    full, bare = venues
    code = main(["validate", "exchanges", "--venue", f"binance={full}", "--venue", f"bybit={bare}",
                 "--pairs", PAIR, "--timerange", RANGE, "--out", str(tmp_path / "study")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "funding_rate.feather missing" in err
    assert not (tmp_path / "study" / "variants").exists()


def test_intervals_round_to_the_minute(tmp_path):
    stamps = pd.date_range("2026-05-10", periods=30, freq="1h", tz="UTC")
    jitter = pd.to_timedelta([(i % 3) * 10 for i in range(30)], unit="ms")  # ms off the hour
    funding = pd.DataFrame({"date": stamps + jitter, "open": 1e-4, "high": 0.0, "low": 0.0,
                            "close": 0.0, "volume": 0.0})  # fmt: skip
    (tmp_path / "futures").mkdir()
    funding.to_feather(tmp_path / "futures" / "BTC_USDT_USDT-1h-funding_rate.feather")
    prof = funding_profile(tmp_path, PAIR, "2026-05-10", "2026-05-12")
    assert prof["funding_interval_h"] == 1.0


def test_explanation_says_unknown_instead_of_nan():
    row = {"profit_pct": 0.01, "trades": 3, "taker_fee": 0.0005, "funding_interval_h": float("nan"),
           "funding_mean_bps": 1.0, "funding_paid": 0.0, "price_gap_bps_vs_other": 1.0}  # fmt: skip
    table = pd.DataFrame(
        [{"exchange": "a", "pair": PAIR, **row}, {"exchange": "b", "pair": PAIR, **row}]
    )
    text = "\n".join(explain(table))
    assert "every unknown vs unknown" in text and "nan h" not in text
