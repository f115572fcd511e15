"""Overfitting statistics against known answers: the Deflated Sharpe Ratio paper's example, PSR
symmetry, MinTRL's definition, and CSCV's PBO on pure noise, on a planted edge, and against a
plain per-split loop (the oracle)."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from perpflow.validation import overfit

DAYS = 250  # the DSR paper annualises daily Sharpes with 250 trading days


def test_dsr_paper_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", section 5: 100 trials whose
    # annualised Sharpes have variance 0.5, the best annualised SR 2.5 over T=1250 daily returns
    # with skew -3 and kurtosis 10. Derived from the formulas here:
    #   SR0 = sqrt(0.5/250) * (0.4228 * Phi^-1(0.99) + 0.5772 * Phi^-1(1 - 1/(100e)))
    #       = 0.04472 * (0.4228 * 2.3263 + 0.5772 * 2.6806) = 0.04472 * 2.5308 = 0.1132 per day
    #   (1.790 annualised), SR = 2.5 / sqrt(250) = 0.1581 per day,
    #   DSR = Phi((0.1581 - 0.1132) sqrt(1249) / sqrt(1 + 3 * 0.1581 + 9/4 * 0.1581^2))
    #       = Phi(1.2836) = 0.9004, the paper's "DSR ~ 0.90": not significant at 95%.
    sr0 = overfit.expected_max_sharpe(100, 0.5 / DAYS)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert sr0 * math.sqrt(DAYS) == pytest.approx(1.790, abs=1e-3)
    dsr = overfit.probabilistic_sharpe(2.5 / math.sqrt(DAYS), 1250, -3, 10, sr_benchmark=sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_psr_is_one_half_at_the_benchmark_and_symmetric():
    for sr, skew, kurt in [(0.1, 0.0, 3.0), (0.05, -2.0, 8.0), (-0.03, 1.0, 5.0)]:
        assert overfit.probabilistic_sharpe(sr, 500, skew, kurt, sr_benchmark=sr) == 0.5
    # normal returns: PSR(b + d) and PSR(b - d) mirror around 1/2 to first order (same std)
    up = overfit.probabilistic_sharpe(0.0, 400, 0, 3, sr_benchmark=-0.05)
    down = overfit.probabilistic_sharpe(0.0, 400, 0, 3, sr_benchmark=0.05)
    assert up + down == pytest.approx(1.0)
    assert math.isnan(overfit.probabilistic_sharpe(float("nan"), 100))


def test_mintrl_is_where_psr_reaches_95_percent_and_falls_with_sr():
    for sr, skew, kurt in [(0.05, 0, 3), (0.1, -1, 6), (0.2, -3, 10)]:
        n = overfit.min_track_record_length(sr, skew, kurt)
        assert overfit.probabilistic_sharpe(sr, n, skew, kurt) == pytest.approx(0.95)
    lengths = [overfit.min_track_record_length(s, -1, 6) for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(a > b for a, b in zip(lengths, lengths[1:], strict=False))
    # normal returns: 1 + (1 + SR^2/2) (1.645 / SR)^2
    assert overfit.min_track_record_length(0.1) == pytest.approx(
        1 + (1 + 0.01 / 2) * (stats.norm.ppf(0.95) / 0.1) ** 2)  # fmt: skip
    assert overfit.min_track_record_length(0.0) == math.inf
    assert overfit.min_track_record_length(-0.1) == math.inf


def test_expected_max_sharpe_edges_and_growth():
    assert overfit.expected_max_sharpe(1, 0.01) == 0.0
    assert overfit.expected_max_sharpe(50, 0.0) == 0.0
    grow = [overfit.expected_max_sharpe(n, 0.01) for n in (2, 10, 100, 1000)]
    assert all(a < b for a, b in zip(grow, grow[1:], strict=False))
    # the expected max of N standard normals, by simulation, is close to the formula's
    rng = np.random.default_rng(0)
    sim = rng.standard_normal((4000, 100)).max(axis=1).mean()
    assert overfit.expected_max_sharpe(100, 1.0) == pytest.approx(sim, rel=0.03)


def _noise(t=1000, n=100, seed=1):
    return np.random.default_rng(seed).normal(0.0, 0.01, size=(t, n))


def test_pure_noise_best_is_not_significant_and_pbo_is_high():
    m = _noise()
    srs = m.mean(axis=0) / m.std(axis=0, ddof=1)
    best = int(srs.argmax())
    d = overfit.deflated_sharpe(m[:, best], sr_trials=srs)
    assert d.n_trials == 100 and not d.significant
    # the undeflated PSR of the same best looks convincing: that is the trap DSR removes
    assert overfit.probabilistic_sharpe(d.sr, d.n_obs, d.skew, d.kurt) > 0.95
    res = overfit.pbo_cscv(m, n_splits=16)
    assert len(res.logits) == math.comb(16, 8)
    assert res.pbo >= 0.4
    assert res.slope < 0.5  # the in-sample winner's edge does not carry over


def test_one_planted_edge_among_noise_is_significant_and_pbo_low():
    m = _noise(seed=2)
    rng = np.random.default_rng(3)
    m[:, 17] = rng.normal(0.0025, 0.01, size=len(m))  # per-day Sharpe ~0.25
    srs = m.mean(axis=0) / m.std(axis=0, ddof=1)
    assert int(srs.argmax()) == 17
    d = overfit.deflated_sharpe(m[:, 17], sr_trials=srs)
    assert d.significant and d.dsr > 0.99
    assert overfit.pbo_cscv(m, n_splits=16).pbo < 0.05


def test_deflated_sharpe_counts_trials_beyond_the_known_sharpes():
    m = _noise(t=500, n=10, seed=4)
    srs = m.mean(axis=0) / m.std(axis=0, ddof=1)
    few = overfit.deflated_sharpe(m[:, 0], sr_trials=srs)
    many = overfit.deflated_sharpe(m[:, 0], sr_trials=srs, n_trials=200)
    assert many.n_trials == 200 and many.sr0 > few.sr0 and many.dsr < few.dsr
    direct = overfit.deflated_sharpe(m[:, 0], sr_variance=float(srs.var(ddof=1)), n_trials=10)
    assert direct.dsr == pytest.approx(few.dsr)


def _pbo_loop(m, s):
    """The paper's algorithm, one split at a time (the oracle)."""
    blocks = np.array_split(np.arange(len(m)), s)
    logits, n = [], m.shape[1]
    for combo in combinations(range(s), s // 2):
        is_rows = np.concatenate([blocks[i] for i in combo])
        oos_rows = np.concatenate([blocks[i] for i in range(s) if i not in combo])
        is_sr = m[is_rows].mean(0) / m[is_rows].std(0, ddof=1)
        oos_sr = m[oos_rows].mean(0) / m[oos_rows].std(0, ddof=1)
        best = is_sr.argmax()
        w = stats.rankdata(oos_sr)[best] / (n + 1)
        logits.append(math.log(w / (1 - w)))
    return np.array(logits)


def test_cscv_vectorised_equals_the_per_split_loop():
    m = np.random.default_rng(5).normal(0.0002, 0.01, size=(203, 7))  # uneven blocks
    res = overfit.pbo_cscv(m, n_splits=6)
    ref = _pbo_loop(m, 6)
    np.testing.assert_allclose(res.logits, ref)
    assert res.pbo == pytest.approx(np.mean(ref <= 0))


def test_cscv_refuses_bad_shapes():
    with pytest.raises(ValueError, match="at least 2 variants"):
        overfit.pbo_cscv(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="even"):
        overfit.pbo_cscv(np.zeros((100, 3)), n_splits=5)
    with pytest.raises(ValueError, match="too few"):
        overfit.pbo_cscv(np.zeros((20, 3)), n_splits=16)


def test_flat_variants_do_not_break_cscv():
    m = _noise(t=200, n=5, seed=6)
    m[:, 2] = 0.0  # a variant that never traded
    res = overfit.pbo_cscv(m, n_splits=8)
    assert np.isfinite(res.logits).all() and 0 <= res.pbo <= 1


def test_explain_sentences():
    m = _noise(t=300, n=10, seed=7)
    srs = m.mean(0) / m.std(0, ddof=1)
    lines = overfit.explain(overfit.deflated_sharpe(m[:, 0], sr_trials=srs),
                            overfit.pbo_cscv(m, n_splits=8), 400.0, 300)  # fmt: skip
    assert lines[0].startswith("DSR ") and "10 trial(s)" in lines[0]
    assert lines[1].startswith("PBO ") and "median out of sample" in lines[1]
    assert lines[2].startswith("MinTRL 400 days (the record has 300)")
