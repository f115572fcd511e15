"""`perpflow validate robustness` records its variants in the trial ledger and reports DSR, PBO and
MinTRL; running the finished study again counts nothing twice (real freqtrade backtests on the
SYNTHETIC 30-day demo market)."""

from __future__ import annotations

import contextlib
import io

import pytest

from perpflow.validation.trials import Ledger
from tests.cli.conftest import small_demo  # noqa: F401 - the 30-day demo market
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration


def test_robustness_counts_trials_once_and_reports_overfitting(tmp_path, small_demo):  # noqa: F811
    out = tmp_path / "rb"
    argv = ["validate", "robustness", "--pairs", "BTC/USDT:USDT", "--datadir", str(small_demo),
            "--config", str(REPO / "config.json"), "--out", str(out), "--timerange",
            "20260510-20260530", "--params", "risk.trail_atr", "--no-latency"]  # fmt: skip
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        assert run_cli(argv) == 0
    printed = text.getvalue()
    assert "trials recorded (robustness, 20260510-20260530): 3" in printed
    assert "DSR " in printed and "PBO " in printed and "MinTRL" in printed
    html = (out / "report.html").read_text()
    assert "Overfitting (DSR, PBO, MinTRL)" in html and "median out of sample" in html
    led = Ledger(tmp_path / "trials.jsonl")
    assert {d["variant"] for d in led.read()} == {"base", "p-risk.trail_atr-minus",
                                                  "p-risk.trail_atr-plus"}  # fmt: skip
    assert all(d["n_obs"] == 20 for d in led.read())
    # the same study again: results read back, no trial counted twice
    with contextlib.redirect_stdout(io.StringIO()):
        run_cli(argv)
    assert led.n_trials("robustness", "20260510-20260530") == 3 and len(led.read()) == 3
