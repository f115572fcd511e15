"""The TCN event model, its input windows, calibration and the ensemble vote (no freqtrade run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from perpflow.ai.calibration import brier, fit_calibrator, log_loss, reliability
from perpflow.ai.ensemble import (
    EnsembleConfig,
    EventEnsembleModel,
    Member,
    fit_ensemble,
    load_ensemble_config,
    split_positions,
    tcn_inputs,
)
from perpflow.ai.model import fit_classifier, purge_split
from perpflow.ai.sequences import RobustScaler, windows
from perpflow.ai.tcn import TCNSettings, fit_tcn

SMALL = TCNSettings(window=16, channels=8, dilations=(1, 2, 4), batch_size=128, max_epochs=30,
                    patience=5, seed=3)  # fmt: skip
LAG = 6  # the planted pattern: the outcome is decided LAG candles before the setup


def planted(n_rows: int = 6000, every: int = 4, seed: int = 0):
    """Features in time order and setups whose outcome is the sign of feature 0 LAG candles
    earlier; at the setup candle itself every feature is noise."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_rows, 4)).astype("float32")
    ends = np.arange(40, n_rows, every)
    y = values[ends - LAG, 0] > 0
    return values, ends, y


def test_windows_end_at_the_setup_candle_and_refuse_short_history():
    values = np.arange(40, dtype="float32").reshape(20, 2)
    x, valid = windows(values, np.array([2, 3, 19, 25]), 4)
    assert valid.tolist() == [False, True, True, False]
    np.testing.assert_array_equal(x[1], values[0:4])
    np.testing.assert_array_equal(x[2, -1], values[19])  # the last row is the setup candle
    assert not x[0].any() and not x[3].any()


def test_tcn_learns_a_planted_sequence_pattern_a_last_row_model_misses():
    values, ends, y = planted()
    x, valid = windows(values, ends, SMALL.window)
    cut = int(len(ends) * 0.6)
    val = int(len(ends) * 0.8)
    model = fit_tcn(x[:cut], y[:cut], x[cut:val], y[cut:val], SMALL)
    auc_tcn = roc_auc_score(y[val:], model.predict_proba(x[val:]))
    last = pd.DataFrame(values[ends], columns=list("abcd"))
    labels = pd.DataFrame({"y": np.where(y, "win", "loss")})
    dd = {"train_features": last.iloc[:cut], "train_labels": labels.iloc[:cut],
          "train_weights": np.ones(cut), "test_features": last.iloc[cut:val],
          "test_labels": labels.iloc[cut:val]}  # fmt: skip
    lgbm = fit_classifier(dd, {"n_estimators": 200, "random_state": 1})
    auc_row = roc_auc_score(y[val:], lgbm.predict_proba(last.iloc[val:])[:, 1])
    assert auc_tcn > 0.85, f"TCN AUC {auc_tcn:.2f} on the planted pattern"
    assert auc_row < 0.62, f"a last-row model cannot see the pattern, AUC {auc_row:.2f}"


def test_training_is_reproducible_with_a_seed():
    values, ends, y = planted(2000)
    x, _ = windows(values, ends, SMALL.window)
    a = fit_tcn(x[:300], y[:300], x[300:], y[300:], SMALL)
    b = fit_tcn(x[:300], y[:300], x[300:], y[300:], SMALL)
    c = fit_tcn(x[:300], y[:300], x[300:], y[300:], TCNSettings(**{**SMALL.__dict__, "seed": 4}))
    for k in ("w1", "w2", "b1"):
        np.testing.assert_array_equal(a.params["blocks"][0][k], b.params["blocks"][0][k])
    assert not np.array_equal(a.params["blocks"][0]["w1"], c.params["blocks"][0]["w1"])
    np.testing.assert_array_equal(a.predict_proba(x[300:]), b.predict_proba(x[300:]))


def test_calibration_improves_brier_on_held_out_data():
    rng = np.random.default_rng(5)
    truth_p = rng.uniform(0.05, 0.5, 6000)
    y = rng.random(6000) < truth_p
    raw = 1 / (1 + np.exp(-4 * (np.log(truth_p / (1 - truth_p)) + 1.0)))  # overconfident, shifted
    for method in ("platt", "isotonic"):
        cal = fit_calibrator(raw[:3000], y[:3000], method)
        assert cal.method == method
        after, before = brier(cal.transform(raw[3000:]), y[3000:]), brier(raw[3000:], y[3000:])
        assert after < before * 0.8, (method, before, after)
        assert log_loss(cal.transform(raw[3000:]), y[3000:]) < log_loss(raw[3000:], y[3000:])
    table = reliability(fit_calibrator(raw[:3000], y[:3000]).transform(raw[3000:]), y[3000:])
    assert table["rows"].sum() == 3000
    assert (table["predicted"] - table["observed"]).abs().max() < 0.1


def test_calibration_keeps_the_raw_score_when_validation_is_too_small_or_one_class():
    assert fit_calibrator(np.array([0.2, 0.9]), np.array([0, 1])).method == "none"
    cal = fit_calibrator(np.full(50, 0.3), np.zeros(50, bool), "isotonic")
    assert cal.method == "none" and "0 wins" in cal.reason
    np.testing.assert_array_equal(cal.transform(np.array([0.3, np.nan]))[:1], [0.3])
    with pytest.raises(ValueError, match="calibration"):
        fit_calibrator(np.ones(3), np.ones(3), "beta")


def _frame(n_rows=3000, seed=0):
    values, ends, y = planted(n_rows, seed=seed)
    side = np.zeros(n_rows)
    side[ends] = np.where(np.arange(len(ends)) % 2, 1, -1)
    frame = pd.DataFrame(values, columns=["%-a", "%-b", "%-c", "%-d"])
    frame["%-conviction_long"] = np.linspace(0, 1, n_rows)
    frame["%-conviction_short"] = 1 - frame["%-conviction_long"]
    frame["%%-event_side"] = side
    frame["date"] = pd.date_range("2026-01-01", periods=n_rows, freq="5min", tz="UTC")
    return frame, ends, y


def _dd(frame, ends, y, n_train):
    feats = frame.loc[ends, ["%-a", "%-b", "%-c", "%-d", "%-conviction_long", "%-conviction_short"]]
    labels = pd.DataFrame({"&-outcome": np.where(y, "win", "loss")}, index=feats.index)
    dd = {"train_features": feats.iloc[:n_train], "train_labels": labels.iloc[:n_train],
          "train_weights": np.ones(n_train), "test_features": feats.iloc[n_train:],
          "test_labels": labels.iloc[n_train:]}  # fmt: skip
    return dd, frame.loc[ends, "date"]


def test_split_positions_line_up_with_the_purged_split():
    frame, ends, y = _frame()
    n_train = int(len(ends) * 0.8)
    dd, dates = _dd(frame, ends, y, n_train)
    purge = pd.Timedelta("4h")
    purged = purge_split(dd, dates, purge)
    train, test = split_positions(frame["date"], dates, n_train, len(ends) - n_train, purge)
    assert len(train) == len(purged["train_features"]) < n_train
    np.testing.assert_array_equal(train, purged["train_features"].index.to_numpy())
    np.testing.assert_array_equal(test, ends[n_train:])


def _ensemble(weights, n_rows=3000):
    frame, ends, y = _frame(n_rows)
    n_train = int(len(ends) * 0.8)
    dd, dates = _dd(frame, ends, y, n_train)
    cfg = EnsembleConfig(weights=weights, tcn=SMALL.__dict__)
    train, test = split_positions(
        frame["date"], dates, n_train, len(ends) - n_train, pd.Timedelta(0)
    )
    feats = ["%-a", "%-b", "%-c", "%-d"]
    model = fit_ensemble(dd, frame, train, test, feats, cfg, {"n_estimators": 50})
    return model, frame, dd, ends


def test_tcn_predictions_at_t_do_not_change_when_later_rows_are_removed():
    model, frame, dd, ends = _ensemble({"rules": 0, "lightgbm": 0, "tcn": 1})
    assert list(model.members) == ["tcn"], "members with weight 0 are not trained"
    cut = int(ends[len(ends) // 2])
    full = model.raw_scores(None, frame)["tcn"]
    part = model.raw_scores(None, frame.iloc[: cut + 1])["tcn"]
    np.testing.assert_array_equal(part, full[: cut + 1])
    assert np.isnan(full[: SMALL.window - 1]).all() and np.isfinite(full[SMALL.window - 1 :]).all()


def test_the_vote_needs_every_weighted_member_on_a_setup_row():
    model, frame, dd, ends = _ensemble({"rules": 0.5, "lightgbm": 0.0, "tcn": 0.5})
    raw = model.raw_scores(None, frame)
    setup = frame["%%-event_side"].to_numpy() != 0
    cal, vote = model.vote(raw, setup)
    early = ends[ends < SMALL.window - 1]
    assert np.isnan(vote[early]).all(), "a setup without TCN history gets no vote"
    later = ends[ends >= SMALL.window - 1]
    expected = 0.5 * cal["rules"][later] + 0.5 * cal["tcn"][later]
    np.testing.assert_allclose(vote[later], expected)
    quiet = np.flatnonzero(~setup)[SMALL.window :]
    np.testing.assert_allclose(vote[quiet], cal["tcn"][quiet])  # no side: the rules abstain
    without = model.vote_without(raw, "tcn", setup)  # the ablation the report pairs with the vote
    np.testing.assert_allclose(without[later], cal["rules"][later])
    assert model.vote_without(raw, "lightgbm", setup) is None, "not a member: no ablation"


def test_ensemble_config_names_bad_fields():
    with pytest.raises(ValueError, match="at least one member"):
        load_ensemble_config({"ensemble": {"weights": {"rules": 0, "lightgbm": 0, "tcn": 0}}})
    with pytest.raises(ValueError, match="calibration"):
        load_ensemble_config({"ensemble": {"calibration": "beta"}})
    with pytest.raises(ValueError, match=r"freqai\.ensemble\.tcn\.window"):
        load_ensemble_config({"ensemble": {"tcn": {"window": 1}}})
    assert load_ensemble_config({}).active() == ["lightgbm", "tcn"]


def test_the_model_pickles_with_numpy_weights_only():
    import pickle

    model, frame, _, _ = _ensemble({"rules": 0, "lightgbm": 0, "tcn": 1}, n_rows=1500)
    before = model.raw_scores(None, frame)["tcn"]
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.raw_scores(None, frame)["tcn"], before)
    assert isinstance(clone, EventEnsembleModel) and isinstance(clone.members["tcn"], Member)
    x, valid = tcn_inputs(frame, model.features, model.scaler, model.window, np.array([0, 100]))
    assert valid.tolist() == [False, True] and x.shape == (2, SMALL.window, 6)


def test_robust_scaler_ignores_nan_and_clips():
    v = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, 5.0], [1000.0, 5.0]])
    s = RobustScaler.fit(v)
    z = s.transform(v)
    assert np.isfinite(z).all() and z.max() == 5.0 and z[0, 1] == 0.0


@pytest.mark.parametrize(
    "width,dilations", [(32, (1, 2, 4, 8)), (16, (1, 2, 4)), (5, (1, 2, 4, 8))]
)
def test_the_pruned_network_equals_the_full_convolution_stack(width, dilations):
    import jax.numpy as jnp

    from perpflow.ai.tcn import forward, forward_full, init_params, needed_positions

    s = TCNSettings(window=width, dilations=dilations, seed=2)
    params = init_params(7, s)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(9, width, 7)).astype("float32"))
    np.testing.assert_allclose(np.asarray(forward(params, x, dilations)),
                               np.asarray(forward_full(params, x, dilations)), rtol=1e-5, atol=1e-6)  # fmt: skip
    plan = needed_positions(width, 3, dilations)
    assert plan[-1][2].tolist() == [width - 1] and plan[0][0].max() == width - 1
    assert all(set(out) <= set(inp) for inp, _, out in plan)  # the skip path has its steps
