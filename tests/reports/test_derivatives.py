"""`perpflow report derivatives`: frequencies with missing inputs reported as missing, charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.cli import main
from perpflow.config import load_perpflow_config
from perpflow.data.demo import generate_demo_market
from perpflow.reports.derivatives import frequencies
from tests.conftest import shared_data_dir


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep-demo")
    generate_demo_market(out, days=45, seed=4, pairs=("BTC/USDT:USDT", "SOL/USDT:USDT"))
    return out


def test_report_on_demo_writes_table_and_charts(demo, tmp_path, capsys):
    rc = main(["report", "derivatives", "--pairs", "BTC/USDT:USDT", "SOL/USDT:USDT",
               "--start", "2026-05-01", "--end", "2026-06-15", "--month", "2026-05",
               "--datadir", str(demo), "--out", str(tmp_path / "r")])  # fmt: skip
    assert rc == 0
    table = pd.read_csv(tmp_path / "r_frequencies.csv", index_col="pair")
    shares = table.filter(like="oi:")
    assert np.allclose(shares.sum(axis=1), 1.0), "OI regimes partition the known OI rows"
    assert (table["oi_rows"] > 10_000).all() and (table["settlements"] > 100).all()
    for base in ("BTC", "SOL"):
        png = tmp_path / f"r_{base}_2026-05.png"
        assert png.stat().st_size > 20_000
    assert "wrote" in capsys.readouterr().out


def test_missing_inputs_are_missing_not_zero(demo, tmp_path):
    for f in (demo / "futures").glob("SOL_USDT_USDT-5m-open_interest.feather"):
        f.rename(tmp_path / f.name)  # SOL loses its OI history
    try:
        cfg = load_perpflow_config({})
        t = frequencies(demo, ["BTC/USDT:USDT", "SOL/USDT:USDT"],
                        pd.Timestamp("2026-05-01", tz="UTC"), pd.Timestamp("2026-06-15", tz="UTC"),
                        cfg)  # fmt: skip
        assert t.loc["SOL/USDT:USDT", "oi_rows"] == 0
        assert t.loc["SOL/USDT:USDT"].filter(like="oi:").isna().all()
        assert t.loc["BTC/USDT:USDT"].filter(like="oi:").notna().all()
    finally:
        for f in tmp_path.glob("*.feather"):
            f.rename(demo / "futures" / f.name)


def test_real_binance_2025_funding_extremes(tmp_path):
    data = shared_data_dir("binance")
    cfg = load_perpflow_config({})
    t = frequencies(data, ["BTC/USDT:USDT", "ETH/USDT:USDT"], pd.Timestamp("2025-01-01", tz="UTC"),
                    pd.Timestamp("2026-01-01", tz="UTC"), cfg)  # fmt: skip
    assert (t["settlements"] > 1000).all()  # 3 a day for a year, less the z warm-up
    # extremes are rare, and in 2025 negative extremes were more common than positive ones
    assert t["funding_z>=2"].between(0.002, 0.05).all()
    assert (t["funding_z<=-2"] > t["funding_z>=2"]).all()
    # the shared data holds real BTC/ETH OI for October 2025 only: one month of 5m rows, no more
    assert t["oi_rows"].between(28 * 288, 31 * 288 + 1).all(), t["oi_rows"]
    shares = t[[c for c in t.columns if c.startswith("oi:")]].sum(axis=1)
    assert shares.round(6).eq(1.0).all()
