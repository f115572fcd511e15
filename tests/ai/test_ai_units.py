"""LiquiditySweepAI's pieces: causal features, targets with known answers, the vote, the purge,
importance on data with a planted signal, rank aggregation and out-of-sample scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.ai.features import EVENT_COLUMN, ai_features, event_side
from perpflow.ai.importance import load_windows, rank_table
from perpflow.ai.model import (
    TrainingDataError,
    check_training_inputs,
    fit_classifier,
    purge_split,
    scores,
    window_importance,
    write_importance,
)
from perpflow.ai.oos import _score_window
from perpflow.ai.targets import event_outcome
from perpflow.ai.vote import ensemble_vote
from perpflow.config import PerpflowConfig, PerpflowConfigError, load_perpflow_config
from perpflow.strategy.sweep_signals import populate_sweep_indicators
from tests.conftest import random_candles
from tests.features.parity import assert_truncation_parity

# short lookbacks so a 600-row frame has values; funding/OI/liquidations absent (NaN features)
CFG = load_perpflow_config({"perpflow": {
    "filters": {"regime": {"lookback": 100}, "structure": {"profile_window": 60},
                "liquidations": {"enabled": False}},
    "sweep": {"swing_left": 3, "swing_right": 2},
}})  # fmt: skip


def _features(d: pd.DataFrame) -> pd.DataFrame:
    ind = populate_sweep_indicators(d, pair="BTC/USDT:USDT", cfg=CFG, timeframe="5m",
                                    funding=None, open_interest=None)  # fmt: skip
    return ai_features(ind, CFG)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(150, 599))
def test_ai_features_truncation_parity(seed, cut):
    assert_truncation_parity(_features, random_candles(600, seed=seed), cut)


def test_ai_features_are_scale_free_and_gated_by_config():
    df = random_candles(600, seed=3)
    f = _features(df)
    assert all(c.startswith("%") for c in f.columns)
    assert not any(c.startswith("%-liq") for c in f.columns), (
        "liquidations disabled -> no liq features"
    )
    assert {"%-funding_z", "%-oi_regime"} <= set(f.columns)
    # multiplying every price by 1000 leaves ATR-unit features unchanged
    scaled = df.assign(**{c: df[c] * 1000 for c in ("open", "high", "low", "close")})
    g = _features(scaled)
    for col in ("%-sweep_depth_atr", "%-poc_dist_atr", "%-range_atr", "%-body_atr", "%-atr_pct"):
        np.testing.assert_allclose(f[col], g[col], rtol=1e-6, equal_nan=True, err_msg=col)


def _frame(close: list[float], atr: float = 1.0) -> pd.DataFrame:
    c = np.asarray(close, dtype="float64")
    return pd.DataFrame({"date": pd.date_range("2026-01-01", periods=len(c), freq="5min", tz="UTC"),
                         "open": c, "high": c + 0.1, "low": c - 0.1, "close": c, "atr": atr})  # fmt: skip


def test_event_outcome_known_answers():
    cfg = PerpflowConfig()  # take 2 ATR, stop 1 ATR
    # long setup at row 0 that rises 3 (win); short setup at row 5 that rises (loss for a short)
    up = [100, 100.5, 101, 102.5, 103, 103, 103.5, 104.2, 105, 105, 105]
    side = pd.Series([1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0], dtype="float64")
    out = event_outcome(_frame(up), side, cfg, horizon=5)
    assert out.iloc[0] == "win" and out.iloc[5] == "loss"
    assert out.drop([0, 5]).isna().all(), "only setup rows carry a label"
    # a setup whose horizon runs past the data with no touch is unknown, not a loss
    flat = _frame([100.0] * 6)
    assert pd.isna(event_outcome(flat, pd.Series([0, 0, 0, 1, 0, 0.0]), cfg, horizon=5).iloc[3])
    # the time barrier inside the data is a loss (no edge)
    assert (
        event_outcome(_frame([100.0] * 12), pd.Series([1.0] + [0] * 11), cfg, horizon=5).iloc[0]
        == "loss"
    )


def test_event_side_is_exclusive():
    df = pd.DataFrame({k: [False, True, True, False] for k in (
        "sweep_low", "sweep_high", "pool_sweep_low", "pool_sweep_high")})  # fmt: skip
    df = df.assign(sweep_high=[False, False, True, True], sweep_low=[False, True, True, False],
                   pool_sweep_low=False, pool_sweep_high=False,
                   liq_reversal_long=False, liq_reversal_short=False,
                   sweep_low_depth_atr=0.5, sweep_high_depth_atr=0.5,
                   pool_sweep_low_depth_atr=0.5, pool_sweep_high_depth_atr=0.5)  # fmt: skip
    assert event_side(df, PerpflowConfig()).tolist() == [0, 1, 0, -1]


def test_vote_weights_and_fail_closed():
    cfg = load_perpflow_config({"perpflow": {"ai": {"weights": {"model": 3, "rules": 1}}}})
    frame = pd.DataFrame({"conviction_long": [0.2, 0.2, 0.2, 0.2],
                          "conviction_short": [0.9, 0.9, 0.9, 0.9]})  # fmt: skip
    p = pd.Series([0.6, 0.6, 0.6, np.nan])
    vote = ensemble_vote(p, pd.Series([1, 0, 1, 1]), pd.Series([1, 1, -1, 1]), frame, cfg)
    assert vote.iloc[0] == pytest.approx((3 * 0.6 + 0.2) / 4)
    assert np.isnan(vote.iloc[1]), "do_predict 0: no vote, no entry"
    assert vote.iloc[2] == pytest.approx((3 * 0.6 + 0.9) / 4), "short reads short conviction"
    assert np.isnan(vote.iloc[3])
    rules_only = load_perpflow_config({"perpflow": {"ai": {"weights": {"model": 0, "rules": 1}}}})
    assert (
        ensemble_vote(p, pd.Series([0] * 4), pd.Series([1] * 4), frame, rules_only).iloc[1] == 0.2
    )
    with pytest.raises(PerpflowConfigError, match="weights"):
        load_perpflow_config({"perpflow": {"ai": {"weights": {"model": 0, "rules": 0}}}})


def _dd(n_train: int, n_test: int, dates: pd.DatetimeIndex) -> dict:
    X = pd.DataFrame({"x": np.arange(n_train + n_test, dtype=float)})
    y = pd.DataFrame({"&-outcome": ["win", "loss"] * ((n_train + n_test) // 2)})
    return {"train_features": X.iloc[:n_train], "test_features": X.iloc[n_train:],
            "train_labels": y.iloc[:n_train], "test_labels": y.iloc[n_train:],
            "train_weights": np.ones(n_train), "test_weights": np.ones(n_test)}  # fmt: skip


def test_purge_split_drops_train_rows_whose_horizon_reaches_the_test_split():
    dates = pd.date_range("2026-01-01", periods=20, freq="1h", tz="UTC")
    dd = purge_split(_dd(16, 4, dates), pd.Series(dates), pd.Timedelta(hours=4))
    kept = dd["train_features"]["x"].to_numpy()
    first_test = dates[16]
    assert (dates[kept.astype(int)] < first_test - pd.Timedelta(hours=4)).all()
    assert len(kept) == 12 and len(dd["train_weights"]) == 12 and len(dd["train_labels"]) == 12
    assert len(dd["test_features"]) == 4, "the test split is untouched"


def _planted(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"%-f{i}" for i in range(5)])
    win = (X["%-f2"] + 0.3 * rng.normal(size=n)) > 1.0  # rare class (~16%) driven by f2
    y = pd.DataFrame({"&-outcome": np.where(win, "win", "loss")})
    k = int(n * 0.8)
    return {"train_features": X.iloc[:k], "test_features": X.iloc[k:], "train_labels": y.iloc[:k],
            "test_labels": y.iloc[k:], "train_weights": np.ones(k)}  # fmt: skip


def test_classifier_finds_the_planted_feature_by_every_importance():
    dd = _planted(3000, 1)
    model = fit_classifier(dd, {"n_estimators": 300, "learning_rate": 0.05, "random_state": 1})
    assert model.best_iteration_ < 300 or model.best_iteration_ > 0
    imp = window_importance(model, dd)
    for col in ("gain", "permutation", "shap"):
        assert imp.sort_values(col, ascending=False)["feature"].iloc[0] == "%-f2", col
    assert imp["gain"].sum() == pytest.approx(1.0)
    # balanced class weights: the rare class is predicted at a sensible rate
    p = model.predict_proba(dd["test_features"])[:, list(model.classes_).index("win")]
    truth = (dd["test_labels"].iloc[:, 0] == "win").to_numpy()
    s = scores(p >= 0.5, truth)
    assert s["recall"] > 0.7 and s["precision"] > 0.4


def test_rank_table_flags_unstable_features_and_merges_pairs(tmp_path):
    names = ["%-a", "%-b", "%-c", "%-d", "%-pct-change_gen_BTC/USDTUSDT_5m"]
    for w in range(4):
        shap = [5, 4, 3 if w % 2 else 0.1, 2, 1]  # %-c jumps between 3rd and last
        table = pd.DataFrame({"feature": names, "gain": shap, "split": 1, "permutation": 0.0,
                              "permutation_std": 0.0, "shap": shap})  # fmt: skip
        if w >= 2:
            table["feature"] = table["feature"].str.replace("BTC", "ETH")
        write_importance(table, tmp_path / f"sub-train-X_{w}", f"cb_x_{w}", pair="X", precision=0.5)
    rows = load_windows(tmp_path)
    ranks = rank_table(rows, unstable_iqr=0.25)
    assert ranks["feature"].iloc[0] == "%-a"
    assert "%-pct-change_5m" in set(ranks["feature"]) and ranks["windows"].max() == 4
    flagged = set(ranks.loc[ranks["unstable"], "feature"])
    assert flagged == {"%-c"}
    with pytest.raises(FileNotFoundError, match="LiquiditySweepAI"):
        load_windows(tmp_path / "empty")


def test_oos_scoring_relabels_from_candles():
    cfg = PerpflowConfig()
    up = [100, 100.5, 101, 102.5, 103, 103, 103.5, 104.2, 105, 105, 105] + [105.0] * 60
    candles = _frame(up)
    pred = pd.DataFrame({"date": candles["date"], EVENT_COLUMN: 0.0, "win": 0.0, "do_predict": 1})
    pred.loc[0, [EVENT_COLUMN, "win"]] = [1.0, 0.9]  # says win, was a win
    pred.loc[5, [EVENT_COLUMN, "win"]] = [-1.0, 0.8]  # says win, was a loss
    pred.loc[6, [EVENT_COLUMN, "win", "do_predict"]] = [1.0, 0.9, 0]  # untrusted: not scored
    res = _score_window(candles, pred, cfg, threshold=0.5)
    assert res["setups"] == 3 and res["rows_without_prediction"] == 1
    assert res["precision"] == 0.5 and res["recall"] == 1.0 and res["positives"] == 1


def test_training_refuses_a_window_without_a_feature_family():
    df = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=3, freq="5min", tz="UTC"),
                       "%-liq_density": np.nan, "%-funding_z": [1.0, 2.0, np.nan]})  # fmt: skip
    with pytest.raises(TrainingDataError, match="liquidations.*perpflow collect liquidations"):
        check_training_inputs(df, ["%-liq_density", "%-funding_z"], "BTC/USDT:USDT")
    check_training_inputs(df, ["%-funding_z"], "BTC/USDT:USDT")


def test_second_model_votes_inside_the_ensemble_and_pickles():
    import pickle

    from perpflow.ai.model import EventEnsemble, fit_second

    dd = _planted(2000, 2)
    lgbm = fit_classifier(dd, {"n_estimators": 100, "random_state": 1})
    second = fit_second("logistic", dd)
    ens = EventEnsemble(lgbm, second, 0.25)
    X = dd["test_features"]
    expected = 0.75 * lgbm.predict_proba(X) + 0.25 * second.predict_proba(X)
    np.testing.assert_allclose(ens.predict_proba(X), expected)
    assert list(ens.classes_) == list(lgbm.classes_)
    assert (ens.predict(X) == ens.classes_[expected.argmax(1)]).all()
    again = pickle.loads(pickle.dumps(ens))
    np.testing.assert_allclose(again.predict_proba(X), expected)
    imp = window_importance(ens, dd)
    assert imp.sort_values("permutation", ascending=False)["feature"].iloc[0] == "%-f2"
    with pytest.raises(ValueError, match="second_model.type"):
        fit_second("svm", dd)


def _book_store(root, dates: pd.Series) -> None:
    """Recorded books every 30 s over `dates`: bids 3x the asks (imbalance +0.5), 1 bp apart."""
    from perpflow.data.store import write_events

    ts = pd.date_range(
        dates.min(), dates.max() + pd.Timedelta("5min"), freq="30s", tz="UTC", inclusive="left"
    )
    rows = {"exchange": "binance", "symbol": "BTCUSDT", "ts_event": ts, "ts_recv": ts, "nonce": 1}
    for i in range(25):
        rows.update({f"bid_px_{i}": 100 * (1 - 1e-4 * (i + 1)), f"bid_sz_{i}": 3.0,
                     f"ask_px_{i}": 100 * (1 + 1e-4 * (i + 1)), f"ask_sz_{i}": 1.0})  # fmt: skip
    write_events(root, "book", pd.DataFrame(rows), time_col="ts_recv")


def test_book_features_enter_the_model_toward_the_setup_side(tmp_path):
    book_cfg = load_perpflow_config({"perpflow": {**CFG.model_dump(mode="json", exclude_none=True),
                                                  "filters": {**CFG.filters.model_dump(mode="json", exclude_none=True),
                                                              "book": {"enabled": True, "store": str(tmp_path)}}}})  # fmt: skip
    df = random_candles(600, seed=5)
    _book_store(tmp_path, df["date"])

    def feats(d):
        ind = populate_sweep_indicators(d, pair="BTC/USDT:USDT", cfg=book_cfg, timeframe="5m",
                                        funding=None, open_interest=None)  # fmt: skip
        return ai_features(ind, book_cfg)

    f = feats(df)
    assert {"%-book_imb_10", "%-book_void_bps", "%-book_cancel_to_trade"} <= set(f.columns)
    side = f[EVENT_COLUMN]
    assert (side != 0).any()
    np.testing.assert_allclose(f.loc[side > 0, "%-book_imb_10"], 0.5)
    np.testing.assert_allclose(
        f.loc[side < 0, "%-book_imb_10"], -0.5, err_msg="bid-heavy book is against a short"
    )
    assert not any(c.startswith("%-book") for c in _features(df).columns), (
        "book filter off -> no book features"
    )
    for cut in (200, 450):
        assert_truncation_parity(feats, df, cut)
    with pytest.raises(TrainingDataError, match="recorded order books.*perpflow record"):
        check_training_inputs(
            f.assign(**{"%-book_imb_10": np.nan}, date=df["date"]),
            ["%-book_imb_10"],
            "BTC/USDT:USDT",
        )
