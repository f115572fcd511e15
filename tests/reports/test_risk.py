"""Risk report figures on hand-made trades (oracles)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from perpflow.reports.risk import max_concurrent_notional, risk_summary


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


def test_governor_history_is_matched_to_its_run_and_summarised(tmp_path):
    from datetime import UTC, datetime

    from perpflow.reports.risk import cap_summary, curve_drawdown, governor_history

    rows = ("date,equity,peak,drawdown,scale,open_risk,budget,cap,level,event,note\n"
            "2026-01-01T00:05:00+00:00,10000,10000,0,1.0,0,1000,0.1,normal,,\n"
            "2026-01-01T00:10:00+00:00,11000,11000,0,1.0,50,1050,0.1,normal,,\n"
            "2026-01-01T00:15:00+00:00,9890,11000,0.1009,0.0,0,0,0.1,hard,hard,\n"
            "2026-01-02T00:15:00+00:00,9900,9900,0,1.0,0,990,0.1,normal,rearm,operator\n"
            "2026-01-02T00:20:00+00:00,9500,9900,0.0404,1.0,0,590,0.1,normal,,\n")  # fmt: skip
    run = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC).timestamp()
    (tmp_path / "perpflow-governor-LiquiditySweep-2026-03-01_12-00-06-77.csv").write_text(rows)
    (tmp_path / "perpflow-governor-LiquiditySweep-2026-03-01_12-05-00-76.csv").write_text("x\n")
    result = tmp_path / "backtest-result-2026-03-01_12-01-00.zip"
    stats = {"backtest_run_start_ts": int(run), "backtest_run_end_ts": int(run) + 50}
    hist = governor_history(result, "LiquiditySweep", stats)
    assert hist is not None and len(hist) == 5, "the file written during this run, not a later one"
    assert governor_history(result, "Other", stats) is None
    cap = cap_summary(hist, starting_balance=10_000.0, closed_drawdown=0.05)
    assert cap["hard_cap"] == 0.1 and cap["governor_drawdown"] == pytest.approx(0.1009)
    # the whole run's curve is not re-based by the re-arm: 11,000 -> 9,500
    assert cap["equity_drawdown"] == pytest.approx(1 - 9_500 / 11_000)
    assert [e["event"] for e in cap["events"]] == ["trip", "rearm"]
    assert cap["events"][1]["note"] == "operator"
    assert curve_drawdown([1.0, 2.0, 1.5, 3.0]) == pytest.approx(0.25)


def test_risk_report_marks_missing_funding_unknown(tmp_path, capsys):
    # before: Freqtrade's loader filled funding_fees 0.0 and the report printed funding_paid -0.00
    from perpflow.cli import main
    from tests.result_files import write_result

    out = tmp_path / "r.json"
    bt = write_result(tmp_path / "no_funding.json", drop=("funding_fees",))
    assert main(["risk", "report", "--backtest", str(bt), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if "funding_paid" in x)
    assert "unknown" in line and "0.00" not in line
    assert "nan" not in text  # the result has no max_drawdown_account either
    assert json.loads(out.read_text())["funding_paid"] is None
    assert json.loads(out.read_text())["leverage_max"] == 3.0
    full = write_result(tmp_path / "full.json")
    assert main(["risk", "report", "--backtest", str(full), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["funding_paid"] == pytest.approx(0.75)  # 3 x 0.25 paid


def test_risk_summary_leaves_absent_fields_unknown():
    s = risk_summary(_trades().drop(columns=["leverage"]), starting_balance=1_000.0)
    assert s["leverage_max"] is None and s["max_exposure_x_balance"] is None
    assert s["funding_paid"] == pytest.approx(2.5)
    no_funding = risk_summary(_trades().drop(columns=["funding_fees"]), starting_balance=1e3)
    assert no_funding["funding_paid"] is None
