"""The ensemble-member comparison (`perpflow.ai.compare`) on synthetic candles and FreqAI-named
prediction files: paired rows, Brier/log loss per member, the paired test and its verdicts,
absent members, the reliability table and diagram, and the report section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.ai import compare as cmp
from perpflow.ai.calibration import brier
from perpflow.ai.features import EVENT_COLUMN
from perpflow.ai.oos import window_oos
from perpflow.ai.targets import event_outcome
from perpflow.config import PerpflowConfig
from perpflow.data.files import pair_file
from perpflow.features.volatility import atr
from perpflow.validation.freqai_report import model_comparison
from tests.conftest import random_candles

PAIR = "BTC/USDT:USDT"
CFG = PerpflowConfig()
WARMUP, ROWS = 100, 240  # candles before the first window; candles per backtest window


def _perfect(y, rng):
    return np.where(y, 0.95, 0.05)


def _noise(y, rng):
    return rng.uniform(0, 1, len(y))


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A data dir with one pair's candles, the setups' sides and their true outcomes."""
    n = WARMUP + 8 * ROWS + 80
    candles = random_candles(n, seed=7)
    datadir = tmp_path_factory.mktemp("data")
    path = pair_file(datadir, PAIR, "5m-futures")
    path.parent.mkdir(parents=True)
    candles.to_feather(path)
    side = np.zeros(n)
    side[WARMUP : WARMUP + 8 * ROWS : 3] = 1.0
    side[WARMUP + 1 : WARMUP + 8 * ROWS : 6] = -1.0
    c = candles.assign(atr=atr(candles, period=CFG.risk.atr_period))
    truth = event_outcome(c, pd.Series(side), CFG)
    return {"datadir": datadir, "candles": candles, "side": side, "truth": truth}


def _write(models, market, members: dict, *, windows: int = 8, raw: tuple = (), nan=None,
           seed: int = 0):  # fmt: skip
    """FreqAI-style prediction files: `members` maps member -> f(y, rng) (None: only `win`);
    `nan` maps member -> setup positions per window set to NaN; `raw` members get raw_*."""
    rng = np.random.default_rng(seed)
    out = models / "backtesting_predictions"
    out.mkdir(parents=True)
    for k in range(windows):
        sl = slice(WARMUP + k * ROWS, WARMUP + (k + 1) * ROWS)
        side = market["side"][sl]
        y = (market["truth"].iloc[sl] == "win").to_numpy()
        pred = pd.DataFrame({"date": market["candles"]["date"].iloc[sl].to_numpy(),
                             EVENT_COLUMN: side, "&-outcome": "loss", "do_predict": 1})  # fmt: skip
        setups = np.flatnonzero(side != 0)
        for m, f in members.items():
            p = f(y, rng)
            p[setups[list((nan or {}).get(m, []))]] = np.nan
            pred[f"p_{m}"] = p
            if m in raw:
                pred[f"raw_{m}"] = np.clip(p * 0.5 + 0.4, 0, 1)  # overconfident-ish raw score
        blend = pred[[f"p_{m}" for m in members]].mean(axis=1) if members else _noise(y, rng)
        pred = pred.assign(win=blend, loss=1 - blend)
        stamp = int(market["candles"]["date"].iloc[sl.start].timestamp())
        pred.to_feather(out / f"cb_btc_{stamp}_prediction.feather")
    return models


def _rows(models, market, threshold=0.5):
    return cmp.member_windows(models, market["datadir"], [PAIR], CFG, threshold=threshold)


def test_members_are_scored_on_the_same_rows(tmp_path, market):
    models = _write(tmp_path, market, {"rules": _noise, "lightgbm": _perfect, "tcn": _noise},
                    nan={"tcn": [0, 1, 2], "rules": [5]})  # fmt: skip
    rows = _rows(models, market)
    assert set(rows["member"]) == {"rules", "lightgbm", "tcn", "ensemble"}
    per = rows.groupby(cmp.KEYS)
    assert (per["scored"].nunique() == 1).all(), "every member of a window on the same rows"
    assert (rows["dropped"] == 4).all() and (rows["scored"] == rows["setups"] - 4).all()
    # lightgbm's Brier by hand on the paired rows of the first window
    setups = cmp.paired_setups(models, market["datadir"], [PAIR], CFG)
    first = setups[setups["train_end"] == setups["train_end"].min()]
    ok = first[first["paired"]]
    assert len(ok) == len(first) - 4
    got = rows[(rows["member"] == "lightgbm") & (rows["train_end"] == first["train_end"].iloc[0])]
    assert got["brier"].iloc[0] == pytest.approx(brier(ok["lightgbm"], ok["y"]))


def test_do_predict_zero_rows_are_not_setups(tmp_path, market):
    models = _write(tmp_path, market, {"lightgbm": _perfect})
    f = sorted((models / "backtesting_predictions").glob("*.feather"))[0]
    pred = pd.read_feather(f)
    pred.loc[np.flatnonzero(pred[EVENT_COLUMN] != 0)[:2], "do_predict"] = 0
    pred.to_feather(f)
    rows = _rows(models, market)
    first = rows[rows["train_end"] == rows["train_end"].min()]
    other = rows[rows["train_end"] == rows["train_end"].max()]
    assert (first["setups"] == other["setups"].iloc[0] - 2).all()


def test_informative_member_beats_a_noisy_one(tmp_path, market):
    models = _write(tmp_path, market, {"rules": _perfect, "lightgbm": _perfect, "tcn": _noise})
    rows = _rows(models, market)
    pool = cmp.pooled(rows).set_index("member")
    assert pool.loc["lightgbm", "brier"] < pool.loc["tcn", "brier"]
    assert pool.loc["lightgbm", "brier_skill"] > 0.5 > pool.loc["tcn", "brier_skill"]
    base = pool.loc["tcn", "base_rate"]  # skill against always forecasting the pooled base rate
    assert 0.1 < base < 0.9
    assert pool.loc["tcn", "positives"] == rows.loc[rows["member"] == "tcn", "positives"].sum()
    assert pool.loc["tcn", "brier_skill"] == pytest.approx(
        1 - pool.loc["tcn", "brier"] / (base * (1 - base))
    )
    assert pool.loc["lightgbm", "log_loss"] < pool.loc["tcn", "log_loss"]
    worse = cmp.paired_test(rows, "tcn", "lightgbm")
    assert worse["windows"] == 8 and worse["p_value"] < 0.05 and worse["ci_low"] > 0
    assert worse["verdict"].startswith("tcn is worse than lightgbm on brier")
    better = cmp.paired_test(rows, "lightgbm", "tcn", "log_loss")
    assert better["verdict"].startswith("lightgbm beats tcn on log_loss")
    same = cmp.paired_test(rows, "rules", "lightgbm")
    assert np.isnan(same["p_value"]) and "same brier in every window" in same["reason"]
    v = cmp.verdicts(rows)
    assert list(zip(v["a"], v["b"], v["metric"], strict=True)) == [
        ("ensemble", "lightgbm", "brier"), ("ensemble", "lightgbm", "log_loss"),
        ("tcn", "lightgbm", "brier"), ("tcn", "lightgbm", "log_loss")]  # fmt: skip
    # pooled counts agree with perpflow.ai.oos on the blend (same relabelling, no rows dropped)
    oos = window_oos(models, market["datadir"], [PAIR], CFG)
    ens = rows[rows["member"] == "ensemble"].reset_index(drop=True)
    for mine, theirs in (("scored", "test_rows"), ("positives", "positives"),
                         ("predicted", "predicted"), ("precision", "precision")):  # fmt: skip
        np.testing.assert_allclose(ens[mine], oos[theirs], err_msg=mine)


def _synthetic(diffs: list[float]) -> pd.DataFrame:
    ends = pd.date_range("2026-01-01", periods=len(diffs), freq="7D", tz="UTC")
    a = pd.DataFrame({"pair": PAIR, "train_end": ends, "member": "tcn", "brier": 0.2 + np.asarray(diffs)})  # fmt: skip
    b = pd.DataFrame({"pair": PAIR, "train_end": ends, "member": "lightgbm", "brier": 0.2})
    return pd.concat([a, b], ignore_index=True)


def test_paired_test_needs_five_windows_and_says_nothing_on_noise():
    few = cmp.paired_test(_synthetic([0.05, 0.04, 0.06]), "tcn", "lightgbm")
    assert few["windows"] == 3 and np.isnan(few["p_value"])
    assert "3 paired window(s)" in few["reason"] and "cannot tell" in few["verdict"]
    diffs = [0.01, -0.01, 0.02, -0.02, 0.015, -0.015]
    noise = cmp.paired_test(_synthetic(diffs), "tcn", "lightgbm")
    assert noise["p_value"] > 0.5 and noise["ci_low"] < 0 < noise["ci_high"]
    assert noise["verdict"].startswith("tcn adds nothing measurable over lightgbm on brier")
    again = cmp.paired_test(_synthetic(diffs), "tcn", "lightgbm")
    assert (again["ci_low"], again["ci_high"]) == (noise["ci_low"], noise["ci_high"]), "seeded"


def test_absent_members_are_not_reported(tmp_path, market):
    only = _write(tmp_path / "a", market, {"lightgbm": _perfect})
    rows = _rows(only, market)
    assert set(rows["member"]) == {"lightgbm", "ensemble"}
    v = cmp.verdicts(rows)
    assert set(zip(v["a"], v["b"], strict=True)) == {("ensemble", "lightgbm")}
    assert cmp.member_columns(only) == ["p_lightgbm"]
    # a member switched off after four windows (column gone), or without any prediction in
    # two more (all NaN): reported for the first four only, the others lose no rows
    part = _write(tmp_path / "b", market, {"lightgbm": _perfect, "tcn": _noise})
    files = sorted((part / "backtesting_predictions").glob("*.feather"))
    for f in files[4:6]:
        pd.read_feather(f).drop(columns="p_tcn").to_feather(f)
    for f in files[6:]:
        pd.read_feather(f).assign(p_tcn=np.nan).to_feather(f)
    rows = _rows(part, market)
    pool = cmp.pooled(rows).set_index("member")
    assert pool.loc["tcn", "windows"] == 4 and pool.loc["lightgbm", "windows"] == 8
    assert (rows["dropped"] == 0).all() and (rows["scored"] > 0).all()
    none = cmp.window_table(cmp.paired_setups(part, market["datadir"], [PAIR], CFG).iloc[0:0])
    assert list(none.columns) == cmp.WINDOW_COLUMNS and cmp.pooled(none).empty
    assert cmp.verdicts(none).empty and np.isnan(
        cmp.paired_test(none, "tcn", "lightgbm")["p_value"]
    )
    # old LightGBMEventClassifier files (only `win`): the blend alone, and no report section
    old = _write(tmp_path / "c", market, {})
    assert cmp.member_columns(old) == []
    assert set(_rows(old, market)["member"]) == {"ensemble"}
    html, extra = model_comparison(models_dir=old, datadir=market["datadir"], pairs=[PAIR],
                                   cfg=CFG, out=tmp_path, threshold=0.5, timeframe="5m")  # fmt: skip
    assert html is None and extra == {} and not (tmp_path / "model_comparison.csv").exists()


def test_reliability_table_diagram_and_report_section(tmp_path, market):
    models = _write(
        tmp_path / "m", market, {"lightgbm": _perfect, "tcn": _noise}, raw=("lightgbm",)
    )
    setups = cmp.paired_setups(models, market["datadir"], [PAIR], CFG)
    rel = cmp.reliability_table(setups)
    kinds = set(zip(rel["member"], rel["kind"], strict=True))
    assert kinds == {("lightgbm", "calibrated"), ("lightgbm", "raw"), ("tcn", "calibrated"),
                     ("ensemble", "calibrated")}  # fmt: skip
    assert (rel.groupby(["member", "kind"])["rows"].sum() == setups["paired"].sum()).all()
    perfect = rel[(rel["member"] == "lightgbm") & (rel["kind"] == "calibrated")]
    assert set(perfect["observed"]) == {0.0, 1.0} and set(perfect["predicted"]) == {0.05, 0.95}
    out = tmp_path / "study"
    out.mkdir()
    html, extra = model_comparison(models_dir=models, datadir=market["datadir"], pairs=[PAIR],
                                   cfg=CFG, out=out, threshold=0.5, timeframe="5m")  # fmt: skip
    assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = pd.read_csv(out / "model_comparison.csv")
    assert len(written) == len(extra["comparison"]) == 8 * 3
    assert set(pd.read_csv(out / "model_comparison_pooled.csv")["member"]) == {
        "lightgbm", "tcn", "ensemble"}  # fmt: skip
    assert len(pd.read_csv(out / "model_reliability.csv")) == len(rel)
    assert "tcn is worse than lightgbm on brier" in html and "base64" in html
    assert list(extra) == ["comparison", "comparison_pooled", "verdicts"]


def _trades(market) -> pd.DataFrame:
    d = market["candles"]["date"]
    opened = d.iloc[[WARMUP + 10, WARMUP + ROWS + 10, WARMUP + 3 * ROWS + 10]].reset_index(
        drop=True
    )
    return pd.DataFrame({"pair": PAIR, "open_date": opened, "close_date": opened + pd.Timedelta("1h"),
                         "open_rate": 100.0, "min_rate": 99.0, "max_rate": 102.0, "is_short": False,
                         "profit_abs": [10.0, -5.0, 3.0], "profit_ratio": [0.01, -0.005, 0.003]})  # fmt: skip


@pytest.mark.parametrize("members", [{"lightgbm": _perfect, "tcn": _noise}, {}])
def test_freqai_study_adds_the_section_only_for_member_files(tmp_path, market, members, capsys):
    from perpflow.ai.model import write_importance
    from perpflow.cli.validate import _print_comparison
    from perpflow.validation.freqai_report import freqai_study

    models = _write(tmp_path / "m", market, members)
    imp = pd.DataFrame({"feature": ["%-a", "%-b"], "gain": [2.0, 1.0], "permutation": [0.2, 0.1],
                        "shap": [0.3, 0.1]})  # fmt: skip
    write_importance(imp, models / "sub_btc", "cb_btc_1")
    out = tmp_path / "study"
    res = freqai_study(models_dir=models, trades=_trades(market), datadir=market["datadir"],
                       pairs=[PAIR], cfg=CFG, out=out, starting_balance=10_000)  # fmt: skip
    html = (out / "report.html").read_text()
    heads = ["Model out-of-sample", "Per window (trades)", "Feature importance", "Method"]
    assert all(f"<h2>{h}</h2>" in html for h in heads), "existing sections kept"
    assert (out / "oos_precision_recall.csv").exists() and (out / "windows.csv").exists()
    if members:
        assert html.index("<h2>Model out-of-sample</h2>") < html.index("<h2>Model comparison</h2>")
        assert html.index("<h2>Model comparison</h2>") < html.index("<h2>Per window (trades)</h2>")
        assert {"comparison", "comparison_pooled", "verdicts"} <= set(res)
        assert (out / "model_comparison_pooled.csv").exists()
        _print_comparison(res)
        printed = capsys.readouterr().out
        assert "brier_skill" in printed and "tcn is worse than lightgbm on log_loss" in printed
    else:
        assert "Model comparison" not in html and "comparison" not in res
        assert not (out / "model_comparison.csv").exists()


def test_the_vote_without_the_tcn_is_paired_with_the_full_vote(tmp_path, market):
    models = _write(tmp_path, market, {"lightgbm": _noise, "tcn": _perfect})
    for f in (models / "backtesting_predictions").glob("*.feather"):
        pred = pd.read_feather(f)  # the ablation EventEnsembleClassifier writes: lightgbm alone
        pred.assign(win_without_tcn=pred["p_lightgbm"]).to_feather(f)
    rows = _rows(models, market)
    assert "without_tcn" in set(rows["member"])
    v = cmp.verdicts(rows).set_index(["a", "b", "metric"])
    first = v.loc[("ensemble", "without_tcn", "brier")]
    assert first["verdict"].startswith("ensemble beats without_tcn on brier"), first["verdict"]
    assert list(v.index)[0] == ("ensemble", "without_tcn", "brier")


def test_holm_adjusts_the_family_and_keeps_nan():
    adj = cmp.holm(np.array([0.01, 0.04, np.nan, 0.03]))
    np.testing.assert_allclose(adj[[0, 3, 1]], [0.03, 0.06, 0.06])
    assert np.isnan(adj[2])
