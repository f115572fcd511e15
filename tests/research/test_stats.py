"""Known answers for the research statistics (bootstrap, empirical p, BH q-values)."""

import numpy as np
import pytest

from perpflow.research.stats import (
    bh_qvalues,
    block_bootstrap_means,
    bootstrap_ci,
    empirical_p,
)


def test_bh_matches_the_textbook_example():
    # Benjamini & Hochberg (1995), 15 p-values: at q=0.05 exactly the 4 smallest are rejected
    p = np.array([0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
                  0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0])  # fmt: skip
    q = bh_qvalues(p)
    assert (q <= 0.05).sum() == 4
    assert q[0] == pytest.approx(0.0015)
    assert np.all(np.diff(q) >= 0)  # monotone in p
    assert q.max() <= 1.0


def test_bh_keeps_nan_out_of_the_count_and_order():
    q = bh_qvalues(np.array([0.04, np.nan, 0.01]))
    assert np.isnan(q[1])
    assert q[2] == pytest.approx(0.02) and q[0] == pytest.approx(0.04)
    q_shuffled = bh_qvalues(np.array([0.01, 0.04]))
    assert q_shuffled.tolist() == pytest.approx([0.02, 0.04])


def test_bh_on_uniform_noise_rejects_almost_nothing():
    rng = np.random.default_rng(3)
    q = bh_qvalues(rng.uniform(size=2000))
    assert (q <= 0.10).sum() <= 5


def test_block_bootstrap_of_iid_noise_covers_the_mean_at_the_nominal_rate():
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(200):
        lo, hi = bootstrap_ci(rng.normal(0.0, 1.0, 300), draws=500, seed=i)
        covered += lo <= 0.0 <= hi
    assert 0.88 <= covered / 200 <= 0.99


def test_block_bootstrap_widens_for_autocorrelated_data():
    # AR(1) with phi=0.8: an iid bootstrap (block 1) is far too narrow, blocks are not
    rng = np.random.default_rng(2)
    e = rng.normal(size=5000)
    x = np.empty_like(e)
    x[0] = e[0]
    for i in range(1, len(e)):
        x[i] = 0.8 * x[i - 1] + e[i]
    iid = block_bootstrap_means(x, block=1, draws=2000).std()
    blocked = block_bootstrap_means(x, block=50, draws=2000).std()
    true_se = np.sqrt(1 / (1 - 0.8) ** 2 / len(x))  # long-run variance of AR(1) mean
    assert blocked > 2 * iid
    assert 0.6 * true_se < blocked < 1.4 * true_se


def test_block_bootstrap_resamples_have_exactly_n_values():
    x = np.arange(10, dtype=float)
    means = block_bootstrap_means(x, block=3, draws=50, seed=0)  # 10 = 3 + 3 + 3 + 1
    # every resample is made of values of x, so its mean lies in x's range; constant x: exact
    assert np.all((means >= 0) & (means <= 9))
    assert np.allclose(block_bootstrap_means(np.full(7, 2.5), block=3), 2.5)
    assert np.isnan(block_bootstrap_means(np.array([]), draws=3)).all()


def test_empirical_p_known_answers():
    null = np.arange(-50, 51, dtype=float)  # 101 draws centred on 0
    assert empirical_p(0.0, null) == pytest.approx(1.0)
    assert empirical_p(100.0, null) == pytest.approx(1 / 102)
    assert empirical_p(50.0, null) == pytest.approx(3 / 102)  # -50 and 50 are as extreme
    assert np.isnan(empirical_p(1.0, np.array([np.nan])))


def test_baseline_z_is_a_normal_test_not_floored_by_the_draws():
    from perpflow.research.stats import baseline_z

    rng = np.random.default_rng(5)
    null = rng.normal(0.0, 1.0, 1000)  # baseline draw means, sd 1
    z, p = baseline_z(5.0, 0.5, null)  # 5 sd out: p far below 1 / 1001
    assert z == pytest.approx((5.0 - null.mean()) / null.std(ddof=1), rel=1e-9)
    assert p < 1e-5
    # clustered events: their own standard error (3) is larger and is the scale used
    z2, p2 = baseline_z(5.0, 3.0, null)
    assert z2 == pytest.approx((5.0 - null.mean()) / 3.0) and p2 > 0.05
    assert np.isnan(baseline_z(np.nan, 1.0, null)[1])


def test_baseline_z_p_values_are_uniform_under_the_null():
    from perpflow.research.stats import baseline_z, bootstrap_summary

    rng = np.random.default_rng(11)
    null = rng.normal(0, 1, (2000, 50)).mean(axis=1)  # means of 50 iid outcomes
    ps = []
    for i in range(400):
        x = rng.normal(0, 1, 50)
        lo, hi, se = bootstrap_summary(x, draws=300, seed=i)
        assert lo < x.mean() < hi
        ps.append(baseline_z(x.mean(), se, null)[1])
    ps = np.array(ps)
    assert 0.02 <= (ps < 0.05).mean() <= 0.09  # close to the nominal 5%
    assert 0.4 <= np.median(ps) <= 0.6
