"""LiquiditySweepAI end to end with FreqAI: walk-forward backtest, per-window model and importance
files, prediction parity under truncation, the reports, Freqtrade's bias analyses, and a dry-run
that trains and predicts against the local exchange."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import requests

from perpflow.ai.features import EVENT_COLUMN
from tests.conftest import REPO
from tests.integration.ft import (
    FREQTRADE,
    assert_clean_log,
    interrupt_bot,
    latest_backtest_trades,
    run_freqtrade,
    write_json,
)
from tests.integration.test_dry_run_replay import PASSWORD, USER, _free_port, _wait_for

pytestmark = pytest.mark.integration

PERPFLOW = os.path.join(os.path.dirname(sys.executable), "perpflow")
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
# CI-sized walk-forward: 30-day training windows, retrained weekly; a looser vote threshold so
# a few weeks give enough trades for the bias analyses; a second model votes inside LightGBM
CI_AI = {"freqai": {"train_period_days": 30, "backtest_period_days": 7, "identifier": "ai-ci",
                    "second_model": {"type": "logistic", "weight": 0.3},
                    "model_training_parameters": {"n_estimators": 100}},
         "perpflow": {"ai": {"threshold": 0.3}}}  # fmt: skip
# the walk-forward and the dry-run run the event ensemble (rules, LightGBM, a small TCN); the
# bias analyses run LightGBMEventClassifier (the strategy is the same, the models differ only
# in what the parity test and the dry-run check)
ENSEMBLE = REPO / "config.ensemble.json"
CI_TCN = {"freqai": {"ensemble": {"tcn": {"window": 16, "channels": 8, "dilations": [1, 2, 4],
                                          "max_epochs": 20}}},
          "perpflow": {"ai": {"threshold": 0.3}}}  # fmt: skip
MEMBERS = ("rules", "lightgbm", "tcn")
# what Freqtrade's analyses flag for any FreqAI strategy: the target (computed from the future by
# design) and the model outputs at the cut edge (FreqAI predicts rows < the timerange stop, so the
# cut run's last candle has no prediction); the parity test below checks predictions row by row
FREQAI_OUTPUTS = {"&-outcome", "win", "loss", "do_predict", EVENT_COLUMN, "ai_vote",
                  "enter_long", "enter_short"}  # fmt: skip


def _configs(tmp_path, overlay, extra: dict | None = None, ensemble: bool = False):
    ci = write_json(tmp_path / "ci.json", {**CI_AI, **(extra or {})})
    if not ensemble:
        return [REPO / "config.freqai.json", ci, overlay]
    tcn = write_json(tmp_path / "ci_tcn.json", CI_TCN)
    return [REPO / "config.freqai.json", ENSEMBLE, ci, tcn, overlay]


def _predictions(userdir) -> pd.DataFrame:
    files = sorted((userdir / "models" / "ai-ci" / "backtesting_predictions").glob("*.feather"))
    assert files, f"no FreqAI prediction files under {userdir}"
    return pd.concat([pd.read_feather(f).assign(file=f.name) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def ai_backtest(demo_datadir, demo_overlay, tmp_path_factory):
    """A 4-week FreqAI walk-forward backtest of LiquiditySweepAI with the event ensemble on the
    demo market."""
    tmp = tmp_path_factory.mktemp("ai")
    ud = tmp / "ud"
    run_freqtrade(["backtesting", "--datadir", str(demo_datadir), "--pairs", *PAIRS,
                   "--timerange", "20260601-20260629", "--export", "trades", "--cache", "none",
                   "--freqaimodel-path", str(REPO / "freqaimodels")],
                  configs=_configs(tmp, demo_overlay, ensemble=True), userdir=ud)  # fmt: skip
    return tmp, ud


def test_walk_forward_writes_a_model_and_importance_per_window(ai_backtest):
    _, ud = ai_backtest
    models = ud / "models" / "ai-ci"
    for coin in ("BTC", "ETH"):
        windows = sorted(models.glob(f"sub-train-{coin}_*"))
        assert len(windows) == 4, f"{coin}: one model per weekly window, got {windows}"
        for w in windows:
            assert list(w.glob("*_model.joblib")) and list(w.glob("*_importance.parquet")), w
    pred = _predictions(ud)
    for w in models.glob("sub-train-*"):
        imp = pd.read_parquet(next(w.glob("*_importance.parquet")))
        stamp = w.name.split("_")[-1]
        window = pred[pred["file"].str.contains(f"_{stamp}_")]
        # no candle of a test window was used in training: the last training row is before it
        assert imp["train_end"].iloc[0] < window["date"].min(), w.name
        assert {"gain", "permutation", "shap", "precision", "recall"} <= set(imp.columns)
        assert imp["gain"].sum() == pytest.approx(1.0)
    assert set(pred.loc[pred[EVENT_COLUMN] != 0, "do_predict"].unique()) <= {0.0, 1.0}
    setups = pred[(pred[EVENT_COLUMN] != 0) & (pred["do_predict"] == 1)]
    assert len(setups) and setups["win"].between(0, 1).all()
    for m in MEMBERS:  # every member calibrated and voting on every predicted setup
        assert setups[f"p_{m}"].between(0, 1).all() and setups[f"raw_{m}"].notna().all(), m
    # a window's first candles have no TCN history: no vote there, and no entry
    for _, w in pred.groupby("file"):
        head = w.sort_values("date").head(15)
        assert head["p_tcn"].isna().all()
        assert (head.loc[head[EVENT_COLUMN] != 0, "do_predict"] == 0).all()
    trades = latest_backtest_trades(ud)
    assert len(trades), "the vote let no setup through on 4 weeks of the demo market"
    assert set(trades["enter_tag"]) <= {
        "sweep_low",
        "sweep_high",
        "pool_sweep_low",
        "pool_sweep_high",
        "liq_reversal_long",
        "liq_reversal_short",
    }


def test_predictions_do_not_change_when_later_data_is_removed(
    ai_backtest, demo_datadir, demo_overlay
):
    tmp, ud = ai_backtest
    cut = tmp / "cut"
    run_freqtrade(["backtesting", "--datadir", str(demo_datadir), "--pairs", *PAIRS,
                   "--timerange", "20260601-20260615", "--cache", "none",
                   "--freqaimodel-path", str(REPO / "freqaimodels")],
                  configs=_configs(tmp, demo_overlay, ensemble=True), userdir=cut)  # fmt: skip
    full, part = _predictions(ud), _predictions(cut)
    key = ["file", "date"]
    merged = part.merge(full, on=key, suffixes=("_cut", "_full"))
    assert len(merged) == len(part) > 0
    for col in ("win", "do_predict", EVENT_COLUMN, *(f"p_{m}" for m in MEMBERS)):
        pd.testing.assert_series_equal(merged[f"{col}_cut"], merged[f"{col}_full"],
                                       check_names=False, obj=col)  # fmt: skip


def test_importance_and_freqai_study_reports(ai_backtest, demo_datadir):
    tmp, ud = ai_backtest
    models = ud / "models" / "ai-ci"
    out = subprocess.run([PERPFLOW, "importance", "--models", str(models), "--out", str(tmp / "imp")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "8 windows" in out.stdout and (tmp / "imp" / "importance.png").stat().st_size > 10_000
    table = pd.read_csv(tmp / "imp" / "importance.csv")
    assert table["windows"].max() == 8 and table["mean_rank"].is_monotonic_increasing
    study = tmp / "study"
    out = subprocess.run(
        [PERPFLOW, "validate", "freqai", "-c", str(REPO / "config.json"), "-c",
         str(REPO / "config.freqai.json"), "-c", str(tmp / "ci.json"), "--models", str(models),
         "--backtest", str(ud / "backtest_results"), "--datadir", str(demo_datadir),
         "--out", str(study)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    oos = pd.read_csv(study / "oos_precision_recall.csv")
    assert len(oos) == 8 and set(oos["pair"]) == set(PAIRS)
    assert (oos["predicted"] <= oos["test_rows"]).all() and (
        oos["positives"] <= oos["test_rows"]
    ).all()
    html = (study / "report.html").read_text()
    assert "Model out-of-sample" in html and "Feature importance" in html
    # the ensemble's members compared on the same setups, and whether the TCN adds anything
    comparison = pd.read_csv(study / "model_comparison.csv")
    assert {*MEMBERS, "ensemble", "without_tcn"} <= set(comparison["member"])
    assert comparison["brier"].between(0, 1).all() and "Model comparison" in html
    assert "ensemble" in out.stdout and "without_tcn" in out.stdout, out.stdout[-2000:]
    assert (study / "reliability.png").stat().st_size > 10_000
    windows = pd.read_csv(study / "windows.csv")
    assert windows["trades"].sum() == len(latest_backtest_trades(ud)), "windows cover every trade"


def test_lookahead_analysis_with_freqaimodel(demo_datadir, demo_overlay, tmp_path):
    export = tmp_path / "lookahead.csv"
    run_freqtrade(["lookahead-analysis", "--datadir", str(demo_datadir), "--strategy",
                   "LiquiditySweepAI", "--freqaimodel", "LightGBMEventClassifier",
                   "--freqaimodel-path", str(REPO / "freqaimodels"), "--pairs", *PAIRS,
                   "--timerange", "20260601-20260701",
                   "--minimum-trade-amount", "5", "--targeted-trade-amount", "6",
                   "--lookahead-analysis-exportfilename", str(export)],
                  configs=_configs(tmp_path, demo_overlay), userdir=tmp_path / "ud", timeout=900)  # fmt: skip
    # 6 signals, not 10: each one re-trains the model on a sliced backtest, and this test was
    # the second longest of CI (317 s); the no-model strategy's analyses check 10 signals
    row = pd.read_csv(export).iloc[0]
    assert row["total_signals"] >= 6
    assert row["biased_entry_signals"] == 0 and row["biased_exit_signals"] == 0
    flagged = set(str(row["biased_indicators"]).split(",")) - {"nan", ""}
    assert flagged <= FREQAI_OUTPUTS, f"features flagged: {flagged - FREQAI_OUTPUTS}"


def test_recursive_analysis_with_freqaimodel(demo_datadir, demo_overlay, tmp_path):
    proc = run_freqtrade(["recursive-analysis", "--datadir", str(demo_datadir), "--strategy",
                          "LiquiditySweepAI", "--freqaimodel", "LightGBMEventClassifier",
                          "--freqaimodel-path", str(REPO / "freqaimodels"),
                          "--pairs", "BTC/USDT:USDT", "--timerange", "20260601-20260615",
                          "--startup-candle", "2100", "2400"],
                         configs=_configs(tmp_path, demo_overlay), userdir=tmp_path / "ud")  # fmt: skip
    out = proc.stdout + proc.stderr
    flagged = {
        line.rsplit(" ", 1)[-1]
        for line in out.splitlines()
        if "found lookahead in indicator" in line
    }
    assert flagged <= FREQAI_OUTPUTS, f"features with lookahead: {flagged - FREQAI_OUTPUTS}"
    # no feature drifts with the start-up length: every listed variance is 0.000%
    rows = [line for line in out.splitlines() if line.startswith("│") and "%" in line]
    assert all(set(c.strip()) <= set("-0.%") for r in rows for c in r.split("│")[2:-1]), rows


def test_dry_run_trains_and_predicts_against_the_local_exchange(demo_datadir, tmp_path):
    """FreqAI trains the event ensemble in the background on downloaded history and predicts
    on live candles."""
    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    port = _free_port()
    data = tmp_path / "data"
    with VenueServer(demo_datadir, mode="replay", port=0) as venue:
        overlay = write_json(tmp_path / "venue.json", exchange_overlay(venue.url))
        extra = write_json(tmp_path / "dry.json", {
            "timeframe": "1m", "db_url": f"sqlite:///{tmp_path / 'dry.sqlite'}",
            "initial_state": "running", "internals": {"process_throttle_secs": 2},
            "api_server": {"listen_port": port},
            "exchange": {"pair_whitelist": ["BTC/USDT:USDT"]},
            # no liquidation history is recorded for the replayed days: train without them
            "perpflow": {"filters": {"liquidations": {"enabled": False}}},
            "freqai": {"identifier": "ai-dry", "train_period_days": 2, "backtest_period_days": 1},
        })  # fmt: skip
        tcn = write_json(tmp_path / "tcn.json", CI_TCN)
        configs = [REPO / "config.freqai.json", ENSEMBLE, tcn, REPO / "config.api.json", overlay,
                   extra]  # fmt: skip
        ud = tmp_path / "ud"
        # as a user would: download the training history (candles, funding, OI) first
        run_freqtrade(["download-data", "--datadir", str(data), "--days", "6", "-t", "1m", "1h",
                       "--candle-types", "futures", "funding_rate", "mark", "open_interest",
                       "--pairs", "BTC/USDT:USDT"], configs=configs, userdir=ud, timeout=300)  # fmt: skip
        env = {**os.environ, "FREQTRADE__API_SERVER__USERNAME": USER,
               "FREQTRADE__API_SERVER__PASSWORD": PASSWORD,
               "FREQTRADE__API_SERVER__JWT_SECRET_KEY": "perpflow-test-jwt-secret-0123456789abcdef",
               "FREQTRADE__API_SERVER__WS_TOKEN": "perpflow-test-ws-token-0123456789abcdef"}  # fmt: skip
        log = tmp_path / "freqtrade.log"
        cmd = [FREQTRADE, "trade", "--dry-run", "-c", str(REPO / "config.json"),
               *(x for c in configs for x in ("-c", str(c))), "--userdir", str(ud),
               "--datadir", str(data), "--strategy-path", str(REPO / "strategies"),
               "--freqaimodel-path", str(REPO / "freqaimodels")]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        try:
            models = ud / "models" / "ai-dry"
            _wait_for(lambda: list(models.glob("sub-train-BTC_*/*_importance.parquet")), 240,
                      "a trained model with its importance file")  # fmt: skip
            base = f"http://127.0.0.1:{port}/api/v1"

            def predicted():
                r = requests.get(f"{base}/pair_candles", auth=(USER, PASSWORD), timeout=20,
                                 params={"pair": "BTC/USDT:USDT", "timeframe": "1m", "limit": 5})  # fmt: skip
                data = r.json()
                if not data.get("data"):
                    return None
                last = dict(zip(data["columns"], data["data"][-1], strict=True))
                return last if last.get("do_predict") == 1 else None

            last = _wait_for(predicted, 180, "a candle predicted by the trained model")
            assert 0 <= last["win"] <= 1 and last[EVENT_COLUMN] in (-1, 0, 1), last
            # live, FreqAI hands the model the last `window` candles: the TCN has its history
            assert 0 <= last["p_tcn"] <= 1 and 0 <= last["p_lightgbm"] <= 1, last
        except BaseException as exc:
            proc.kill()
            proc.wait(30)
            raise AssertionError(f"{exc}; log tail:\n{log.read_text()[-6000:]}") from exc
        running, shutdown = interrupt_bot(proc, log, timeout=90)
    assert "Done training BTC/USDT:USDT" in running, running[-5000:]
    assert_clean_log(running, shutdown, bad=("Traceback",))
    meta = json.loads(next(models.glob("sub-train-BTC_*/*_metadata.json")).read_text())
    assert any(f.startswith("%-funding_z") for f in meta["training_features_list"]), (
        "funding features trained from the downloaded history"
    )
