"""A study whose freqtrade run fails says why, instead of crashing later on the missing result
(issue 15, item 7: Freqtrade exits 0 on a configuration error; walk-forward then raised an
unrelated ValueError reading a result that was never written)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from perpflow.errors import UserError
from perpflow.validation import validate
from perpflow.validation.study import Variant, run_variant
from tests.conftest import REPO


@pytest.fixture
def bad_config(tmp_path):
    cfg = json.loads((REPO / "config.json").read_text())
    cfg.update(max_open_trades=-1, stake_amount="unlimited")  # Freqtrade's ConfigurationError
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    return path


def test_walk_forward_names_the_configuration_error(small_demo, bad_config, tmp_path):
    with pytest.raises(UserError, match="Configuration error:.*unlimited") as err:
        validate.walk_forward(config=bad_config, datadir=small_demo, pairs=["BTC/USDT:USDT"],
                              start="2026-01-01", end="2026-03-01", train_months=1, test_months=1,
                              purge=1, out=tmp_path / "wf", workers=1, progress=False)  # fmt: skip
    assert "1 backtest(s) failed" in str(err.value)


def test_failed_variant_is_rerun_finished_one_is_not(tmp_path, monkeypatch):
    import perpflow.validation.study as study

    calls = []

    def fake_run(cmd, log):
        calls.append(cmd)
        log.write_text("")
        ok = len(calls) > 1
        if ok:  # the second run "succeeds": leave a result behind
            (tmp_path / "variants" / "v" / "ud" / "backtest_results").mkdir(
                parents=True, exist_ok=True
            )
            (
                tmp_path / "variants" / "v" / "ud" / "backtest_results" / ".last_result.json"
            ).write_text("{}")
        return type("P", (), {"returncode": 0 if ok else 2, "stdout": "", "stderr": "boom"})()

    monkeypatch.setattr(study, "_run", fake_run)
    monkeypatch.setattr(study, "_trades", lambda d: pd.DataFrame({"pair": []}))
    monkeypatch.setattr(study, "_starting_balance", lambda d: 1000.0)
    kw = dict(study_dir=tmp_path, datadir=tmp_path, venue_overlay=tmp_path / "o.json", pairs=["A"])
    assert run_variant(Variant("v", "20260101-20260102"), **kw)["returncode"] == 2
    assert run_variant(Variant("v", "20260101-20260102"), **kw)["returncode"] == 0
    assert run_variant(Variant("v", "20260101-20260102"), **kw)["returncode"] == 0
    assert len(calls) == 2
    # the same id with another overlay is another backtest: run again, never read back
    changed = Variant("v", "20260101-20260102", overlay={"perpflow": {"risk": {"trail_atr": 2.5}}})
    assert run_variant(changed, **kw)["returncode"] == 0
    assert len(calls) == 3
    assert run_variant(changed, **kw)["returncode"] == 0 and len(calls) == 3
    # the same variant after a change to the trading code (a strategy fix): run again
    monkeypatch.setattr(study, "trading_code_hash", lambda: "f" * 64)
    assert run_variant(changed, **kw)["returncode"] == 0 and len(calls) == 4
    assert run_variant(changed, **kw)["returncode"] == 0 and len(calls) == 4
