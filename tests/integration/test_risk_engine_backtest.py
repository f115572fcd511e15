"""The risk engine at work in a real `freqtrade backtesting` on the SYNTHETIC demo market: a
forced-drawdown scenario (tight governor limits, a simulated operator re-arm 12 h after each
trip) shows the soft cut, the trips and the re-arms in the exported trades and locks."""

from __future__ import annotations

import json
import re
import zipfile

import pandas as pd
import pytest

from tests.integration.ft import latest_backtest_trades, run_freqtrade, write_json

pytestmark = pytest.mark.integration

TIGHT = {"perpflow": {"risk": {"governor": {
    "soft_drawdown": 0.03, "hard_drawdown": 0.05, "soft_scale": 0.2,
    "backtest_rearm_hours": 12}}}}  # fmt: skip
LINE = re.compile(r"governor (soft|hard|normal|rearm) at (\d{4}-\d\d-\d\d \d\d:\d\d) UTC")


def _locks(userdir) -> list[dict]:
    from freqtrade.data.btanalysis import get_latest_backtest_filename

    results = userdir / "backtest_results"
    with zipfile.ZipFile(results / get_latest_backtest_filename(results)) as z:
        name = next(n for n in z.namelist() if n.endswith(".json") and "_config" not in n
                    and "_market" not in n)  # fmt: skip
        return json.loads(z.read(name))["strategy"]["LiquiditySweep"]["locks"]


def _windows(log: str, level: str, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    events = [(pd.Timestamp(t, tz="UTC"), lv) for lv, t in LINE.findall(log)]
    out = []
    for i, (t, lv) in enumerate(events):
        if lv == level:
            stop = events[i + 1][0] if i + 1 < len(events) else end
            out.append((t, stop))
    return out


def test_forced_drawdown_cuts_size_then_pauses(demo_datadir, demo_overlay, tmp_path):
    ud = tmp_path / "ud"
    tight = write_json(tmp_path / "tight.json", TIGHT)
    proc = run_freqtrade(
        ["backtesting", "--datadir", str(demo_datadir), "--strategy", "LiquiditySweep",
         "--export", "trades", "--cache", "none", "--enable-protections",
         "--pairs", "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"],
        configs=[demo_overlay, tight], userdir=ud,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    trades = latest_backtest_trades(ud)
    assert len(trades) > 50
    # callbacks at work: stake follows the stop distance and volatility, leverage the conviction
    assert trades["stake_amount"].nunique() > 10 and trades["leverage"].nunique() > 1
    # the trips: governor locks exist, each released by the simulated re-arm, no trade inside one
    locks = [lk for lk in _locks(ud) if lk["reason"].startswith("perpflow drawdown governor")]
    assert locks, "the hard limit was never reached"
    opened = pd.to_datetime(trades["open_date"], utc=True)
    for lk in locks:
        start = pd.Timestamp(lk["lock_time"], tz="UTC")
        end = pd.Timestamp(lk["lock_end_time"], tz="UTC")
        assert not ((opened > start) & (opened < end)).any(), lk
        assert pd.Timedelta(hours=12) <= end - start <= pd.Timedelta(hours=13), lk
    assert "simulated operator re-arm 12 h after the trip" in log
    # the soft cut: notional (stake x leverage) of entries while soft is ~0.2 of the normal one
    last = opened.max() + pd.Timedelta(days=1)
    soft = _windows(log, "soft", last)
    assert soft, "the soft limit was never reached"
    in_soft = pd.Series(False, index=trades.index)
    for a, b in soft:
        in_soft |= (opened > a) & (opened <= b)
    notional = trades["stake_amount"] * trades["leverage"]
    assert in_soft.sum() >= 5 and (~in_soft).sum() >= 5
    ratio = notional[in_soft].median() / notional[~in_soft].median()
    print(
        f"risk engine: {len(trades)} trades, {len(locks)} pauses, {int(in_soft.sum())} soft "
        f"entries, soft/normal notional {ratio:.2f}"
    )
    assert ratio < 0.5


def test_stress_passes_on_the_rules_and_fails_loudly_when_they_allow_liquidation(
    demo_datadir, demo_overlay, tmp_path, capsys
):
    from perpflow.cli import main

    ud = tmp_path / "ud"
    run_freqtrade(
        ["backtesting", "--datadir", str(demo_datadir), "--strategy", "LiquiditySweep",
         "--export", "trades", "--cache", "none", "--timerange", "20260601-20260701",
         "--pairs", "BTC/USDT:USDT", "ETH/USDT:USDT"],
        configs=[demo_overlay], userdir=ud,
    )  # fmt: skip
    args = ["stress", "--backtest", str(ud / "backtest_results"), "--datadir", str(demo_datadir),
            "--out", str(tmp_path / "stress")]  # fmt: skip
    assert main([*args, "--config", "config.json"]) == 0
    out = capsys.readouterr().out
    assert "wick_5%" in out and "OK: no scenario liquidates" in out
    table = pd.read_csv(tmp_path / "stress.csv")
    assert (table["liquidated"] == 0).all() and (table["min_margin_buffer"] > 0).all()
    reckless = write_json(tmp_path / "reckless.json",
                          {"perpflow": {"risk": {"max_leverage": 25}}})  # fmt: skip
    assert main([*args, "--config", str(reckless)]) == 1
    assert "FAIL" in capsys.readouterr().err
    report = tmp_path / "risk.json"
    assert main(["risk", "report", "--backtest", str(ud / "backtest_results"),
                 "--out", str(report)]) == 0  # fmt: skip
    summary = json.loads(report.read_text())
    trades = latest_backtest_trades(ud)
    assert summary["trades"] == len(trades)
    assert summary["leverage_max"] <= 5.0 and summary["max_exposure_x_balance"] > 0
    assert 0 <= summary["max_drawdown"] < 1
