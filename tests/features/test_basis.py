"""Basis against dated quarterlies: oracle, roll, truncation parity, premium fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.features.basis import basis_signal, front_basis, premium_zscore
from tests.features.parity import assert_truncation_parity

E1 = pd.Timestamp("2025-03-28 08:00", tz="UTC")
E2 = pd.Timestamp("2025-06-27 08:00", tz="UTC")


def _market(n=24 * 120, start="2025-01-01", ann=0.08):
    dates = pd.date_range(start, periods=n, freq="1h", tz="UTC")
    rng = np.random.default_rng(4)
    p = 100_000 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    perp = pd.DataFrame({"date": dates, "close": p})
    contracts = {}
    for e in (E1, E2):
        live = dates < e
        years = (e - dates[live]).total_seconds().to_numpy() / (365 * 86400)
        contracts[e] = pd.DataFrame({"date": dates[live], "close": p[live] * (1 + ann * years)})
    return perp, contracts


def test_annualised_basis_oracle_and_roll():
    perp, contracts = _market()
    out = front_basis(perp, contracts, roll_days=7, lookback=48)
    # F = P (1 + 8% x years) exactly: the annualised simple basis is 8% on every row
    known = out["basis_ann"].notna()
    assert np.allclose(out.loc[known, "basis_ann"], 0.08, rtol=1e-9)
    roll = E1 - pd.Timedelta(days=7)
    before = perp["date"] < roll
    assert (out.loc[before, "front_expiry"] == E1).all()
    after = (perp["date"] >= roll) & (perp["date"] < E2 - pd.Timedelta(days=7))
    assert (out.loc[after, "front_expiry"] == E2).all(), "rolls to the next quarter a week early"
    assert out["days_to_expiry"].min() > 7
    # past the last usable contract there is no quarterly basis: NaN, not zero
    assert out.loc[perp["date"] >= E2 - pd.Timedelta(days=7), "basis"].isna().all()


def test_basis_truncation_parity():
    perp, contracts = _market()
    rng = np.random.default_rng(1)
    for e, c in contracts.items():  # noisy basis so the z-score is not degenerate
        contracts[e] = c.assign(close=c["close"] * (1 + rng.normal(0, 2e-4, len(c))))

    def fn(d):
        return front_basis(d, contracts, lookback=72).drop(columns=["front_expiry"])

    assert fn(perp)["basis_z"].notna().sum() > 1000
    for cut in (100, 1700, 2100):
        assert_truncation_parity(fn, perp, cut)


def test_premium_is_the_fallback_where_no_quarterly_exists():
    perp, contracts = _market()
    rng = np.random.default_rng(2)
    prem = pd.Series(rng.normal(1e-4, 2e-4, len(perp)))
    b = front_basis(perp, contracts, lookback=48)
    sig = basis_signal(b, premium_zscore(prem, lookback=48))
    q = b["basis_z"].notna()
    assert (sig.loc[q, "basis_source"] == 1).all()
    late = perp["date"] >= E2 - pd.Timedelta(days=7)
    assert (sig.loc[late, "basis_source"] == 2).all()
    assert sig.loc[late, "basis_signal_z"].notna().all()
    none = basis_signal(front_basis(perp, {}, lookback=48), None)
    assert (none["basis_source"] == 0).all() and none["basis_signal_z"].isna().all()


@pytest.mark.parametrize("cut", [500, 1999])
def test_premium_z_parity(cut):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(0, 1e-4, 2000)})
    assert_truncation_parity(lambda d: premium_zscore(d["x"], lookback=100), df, cut)
