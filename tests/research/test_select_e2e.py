"""`perpflow research select plan` + `confirm` end to end on the SYNTHETIC demo market: real
`freqtrade backtesting` runs (the first plan's on a Dask LocalCluster), the frozen selection,
the ledger's trial counts (a re-run does not count, a changed choice on the same confirmation
span does)."""

from __future__ import annotations

import json

import pytest

from perpflow.research import select
from perpflow.validation.trials import Ledger
from tests.cli.conftest import small_demo  # noqa: F401 - the 30-day demo market
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration
DEV, CONF = "2026-05-09..2026-05-20", "2026-05-21..2026-05-29"
CANDS = {"name": "e2e", "criterion": {"metric": "sharpe", "min_trades": 3},
         "development": DEV, "confirmation": CONF,
         "candidates": [{"id": "shipped", "overlay": {}},
                        {"id": "trail-1.5", "overlay": {"perpflow": {"risk": {"trail_atr": 1.5}}}}]}  # fmt: skip


def _plan(tmp_path, small_demo, doc, name, *extra):  # noqa: F811
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    run_cli(["research", "select", "plan", "--candidates", str(path), "--out", str(tmp_path / "sel"),
             "--datadir", str(small_demo), "--pairs", "BTC/USDT:USDT", "--config",
             str(REPO / "config.json"), *extra])  # fmt: skip
    return tmp_path / "sel" / "selection.json"


def test_plan_freezes_and_confirm_counts_every_trial(tmp_path, small_demo, capsys):  # noqa: F811
    # the candidates run as Dask tasks (a LocalCluster; `--scheduler tcp://...` for a cluster)
    path = _plan(tmp_path, small_demo, CANDS, "cands", "--scheduler", "local", "--workers", "2")
    runs = sorted((tmp_path / "sel" / "dev" / "variants").iterdir())
    assert len(runs) == 2 and all((r / "venue.json").exists() for r in runs)  # one exchange each
    frozen = json.loads(path.read_text())
    sel = select.load_selection(path)
    assert frozen["sha256"] == select.sha256_of(sel)
    dev = {r["id"]: r for r in sel["dev_results"]}
    assert set(dev) == {"shipped", "trail-1.5"} and sel["n_trials_dev"] == 2
    eligible = {k: v["sharpe"] for k, v in dev.items() if v["trades"] >= 3}
    assert sel["chosen"]["id"] == max(eligible, key=eligible.get)  # the declared criterion
    assert "PBO over the candidates" in capsys.readouterr().out

    res = select.confirm(path, progress=False)
    assert res["chosen"] == sel["chosen"]["id"] and res["confirmation"] == CONF
    assert res["n_trials"] == 3 and res["n_confirmations"] == 1 and 0 <= res["dsr"] <= 1
    assert res["n_obs"] == 9  # every confirmation day, none of development
    led = Ledger(tmp_path / "trials.jsonl")
    # confirming the same frozen choice again reads its result back and counts nothing new
    assert select.confirm(path, progress=False)["n_trials"] == 3
    assert len(led.read()) == 3

    # a changed choice (a new plan with only the other candidate) on the same confirmation span
    other = next(c for c in CANDS["candidates"] if c["id"] != sel["chosen"]["id"])
    path2 = _plan(tmp_path, small_demo, {**CANDS, "candidates": [other]}, "cands2")
    assert select.load_selection(path2)["n_trials_dev"] == 2  # dev results read back, not recounted
    res2 = select.confirm(path2, progress=False)
    assert res2["chosen"] == other["id"] and res2["n_confirmations"] == 2 and res2["n_trials"] == 4
    assert led.n_trials(select.CONFIRM_STUDY) == 2 and led.n_trials(select.DEV_STUDY) == 2
