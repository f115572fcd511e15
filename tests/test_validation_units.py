"""Validation toolkit pieces without backtests: windows and purge, perturbation coverage,
metrics oracles, significance wording."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from perpflow.config import load_perpflow_config
from perpflow.reports.html import significance
from perpflow.validation.metrics import excursions, summary
from perpflow.validation.robustness import numeric_parameters, perturbation_variants, perturbed
from perpflow.validation.walkforward import make_windows, purge_days
from tests.conftest import REPO


def test_windows_tile_the_range_with_a_purge_gap():
    ws = make_windows("2025-01-01", "2026-01-01", train_months=3, test_months=1, purge=2)
    assert len(ws) == 9
    for w in ws:
        assert w.train_end + pd.Timedelta(days=2) == w.test_start, "purge gap between train/test"
        assert w.train_end - w.train_start >= pd.Timedelta(days=89)
        assert w.test_start < w.test_end
    for a, b in zip(ws, ws[1:], strict=False):
        assert a.test_end == b.test_start, "test windows tile without gaps or overlap"
    assert ws[0].test_start == pd.Timestamp("2025-04-03") and ws[-1].test_end == pd.Timestamp(
        "2026-01-01"
    )
    assert ws[0].timerange == "20250403-20250503"
    assert purge_days(300, "5m") == 2 and purge_days(24, "1h") == 1
    with pytest.raises(ValueError, match="too short"):
        make_windows("2025-01-01", "2025-02-01", train_months=3)


def test_perturbation_covers_every_numeric_parameter():
    base = json.loads((REPO / "config.json").read_text())["perpflow"]
    params = numeric_parameters(load_perpflow_config({"perpflow": base}))
    variants, skipped = perturbation_variants(base, "20260601-20260701", joint=3)
    covered = {(v.meta["param"], v.meta["dir"]) for v in variants if v.meta["kind"] == "one"}
    covered |= {(s["param"], s["dir"]) for s in skipped}
    assert covered == {(p, d) for p in params for d in ("minus", "plus")}
    assert len(params) > 40 and sum(v.meta["kind"] == "joint" for v in variants) == 3
    for v in variants:  # every variant is a valid config that differs from base where it says
        cfg = load_perpflow_config(v.overlay)
        if v.meta["kind"] == "one":
            assert numeric_parameters(cfg)[v.meta["param"]] == v.meta["value"] != v.meta["base"]
    assert perturbed(12, 1.01) == 13 and perturbed(12, 0.99) == 11 and perturbed(2.0, 1.1) == 2.2


def _trades():
    t = pd.Timestamp("2026-01-01 12:00", tz="UTC")
    return pd.DataFrame({
        "open_date": [t, t + pd.Timedelta(days=1)], "close_date": [t + pd.Timedelta(hours=2),
                                                                  t + pd.Timedelta(days=1, hours=2)],
        "profit_abs": [100.0, -50.0], "profit_ratio": [0.01, -0.005],
        "open_rate": [100.0, 100.0], "min_rate": [98.0, 99.0], "max_rate": [103.0, 101.0],
        "is_short": [False, True],
    })  # fmt: skip


def test_metrics_oracle():
    ex = excursions(_trades())
    assert ex["mae"].tolist() == pytest.approx([0.02, 0.01]) and ex[
        "mfe"
    ].tolist() == pytest.approx([0.03, 0.01])
    s = summary(_trades(), starting_balance=1000.0, start="2026-01-01", end="2026-01-04")
    assert s["trades"] == 2 and s["profit_abs"] == 50.0 and s["win_rate"] == 0.5
    assert s["profit_factor"] == pytest.approx(2.0)
    assert s["profit_pct"] == pytest.approx(0.05)
    assert s["max_drawdown"] == pytest.approx(50 / 1100)
    empty = summary(_trades().iloc[:0], starting_balance=1000.0, start="2026-01-01",
                    end="2026-01-04")  # fmt: skip
    assert empty["trades"] == 0 and np.isnan(empty["win_rate"]) and empty["profit_pct"] == 0


def test_significance_is_stated_plainly():
    assert significance(3.1, 200)[0] and "beyond noise" in significance(3.1, 200)[1]
    assert "NOT" in significance(1.2, 200)[1] and not significance(1.2, 200)[0]
    assert "too few" in significance(5.0, 10)[1]
    assert "NEGATIVE" in significance(-6.0, 400)[1] and significance(-6.0, 400)[0]
