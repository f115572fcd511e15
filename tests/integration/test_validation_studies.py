"""Walk-forward and robustness studies end to end on the SYNTHETIC demo market: real
`freqtrade backtesting` runs fanned out over a pool, resumable, with HTML reports."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from perpflow.validation import validate
from perpflow.validation.study import variant_trades
from tests.conftest import REPO

pytestmark = pytest.mark.integration
PAIRS = ["BTC/USDT:USDT"]


def test_walk_forward_stitches_windows_and_resumes(demo_datadir, tmp_path):
    out = tmp_path / "wf"
    res = validate.walk_forward(config=REPO / "config.json", datadir=demo_datadir, pairs=PAIRS,
                                start="2026-05-01", end="2026-07-14", train_months=1,
                                test_months=1, purge=2, out=out, progress=False)  # fmt: skip
    windows = res["windows"]
    assert len(windows) == 2 and windows["trades"].sum() > 10
    oos = pd.read_parquet(out / "oos_trades.parquet")
    # stitched out-of-sample result = the sum of the window results
    assert oos["profit_abs"].sum() == pytest.approx(windows["profit_abs"].sum())
    assert res["overall"]["trades"] == windows["trades"].sum()
    html = (out / "report.html").read_text()
    assert "Walk-forward study" in html and "statistically" in html
    for png in ("equity.png", "mae_mfe.png", "sessions.png"):
        assert (out / png).stat().st_size > 5_000
    # resume: finished windows are read back, not rerun; a removed one is rerun
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("variants/*/result.json")}
    (out / "variants" / "wf01" / "result.json").unlink()
    validate.walk_forward(config=REPO / "config.json", datadir=demo_datadir, pairs=PAIRS,
                          start="2026-05-01", end="2026-07-14", train_months=1, test_months=1,
                          purge=2, out=out, progress=False)  # fmt: skip
    assert (out / "variants" / "wf00" / "result.json").stat().st_mtime_ns == stamps[
        out / "variants" / "wf00" / "result.json"]  # fmt: skip
    assert (out / "variants" / "wf01" / "result.json").exists()


def test_robustness_latency_fees_and_verdict(demo_datadir, tmp_path):
    out = tmp_path / "rb"
    res = validate.robustness(config=REPO / "config.json", datadir=demo_datadir, pairs=PAIRS,
                              timerange="20260601-20260701", out=out, progress=False,
                              params=["risk.trail_atr", "sweep.swing_left"])  # fmt: skip
    table = res["variants"]
    assert table["ok"].all() and set(table["id"]) >= {"base", "latency-1c", "latency-2c",
                                                        "fee-plus-0.001"}  # fmt: skip
    assert set(res["verdict"]["param"]) == {"risk.trail_atr", "sweep.swing_left"}
    # latency: delayed entries are the base entries moved by exactly the delay
    base = set(pd.to_datetime(variant_trades(out, "base")["open_date"], utc=True))
    for d in (1, 2):
        late = pd.to_datetime(variant_trades(out, f"latency-{d}c")["open_date"], utc=True)
        moved = late.isin({t + pd.Timedelta(minutes=5 * d) for t in base})
        assert len(late) > 10 and moved.mean() >= 0.9, (d, moved.mean())
    # extra fees cost money on the same signals
    fee = table.set_index("id")
    assert fee.loc["fee-plus-0.001", "profit_abs"] < fee.loc["base", "profit_abs"]
    assert "Robustness study" in (out / "report.html").read_text()
    assert (out / "perturbation.png").exists() and os.path.getsize(out / "verdict.csv") > 0


def test_walk_forward_with_hyperopt_searches_each_train_window_only(demo_datadir, tmp_path):
    import json

    out = tmp_path / "wfh"
    res = validate.walk_forward(config=REPO / "config.json", datadir=demo_datadir, pairs=PAIRS,
                                start="2026-05-01", end="2026-07-14", train_months=1,
                                test_months=1, purge=2, out=out, progress=False,
                                hyperopt_epochs=3)  # fmt: skip
    params = res["parameters"]
    assert list(params.index[:2]) == ["wf00", "wf01"]
    assert {"max_depth_atr", "take_profit_r", "trail_atr"} <= set(params.columns)
    for wid in ("wf00", "wf01"):
        r = json.loads((out / "variants" / wid / "result.json").read_text())
        train_end = pd.Timestamp(r["hyperopt"]["timerange"].split("-")[1])
        test_start = pd.Timestamp(r["timerange"].split("-")[0])
        assert train_end + pd.Timedelta(days=2) == test_start, "train ends a purge before test"
        log = (out / "variants" / wid / "freqtrade.log").read_text()
        assert f"Loading parameters from file {out / 'variants' / wid / 'strategies'}" in log
    assert "hyperopt" in (out / "report.html").read_text()
