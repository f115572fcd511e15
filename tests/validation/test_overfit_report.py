"""A study's overfitting figures: hyperopt epochs read back from a `.fthypt` file, trials counted
from the ledger across runs, and the report section's plain lines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from perpflow.validation import overfit_report as orp
from perpflow.validation.trials import Ledger


def _fthypt(vdir, epochs):
    d = vdir / "ud" / "hyperopt_results"
    d.mkdir(parents=True)
    lines = [json.dumps({"current_epoch": i + 1, "loss": loss, "params_dict": {"x": i},
                         "results_metrics": {"starting_balance": 1000.0, "daily_profit": dp}})
             for i, (loss, dp) in enumerate(epochs)]  # fmt: skip
    (d / "strategy_LiquiditySweep_2026-01-01.fthypt").write_text("\n".join(lines) + "\n")


def test_hyperopt_epochs_daily_returns_and_the_chosen_epoch(tmp_path):
    _fthypt(tmp_path, [(0.5, [["2026-01-02", 10.0]]),
                       (-1.0, [["2026-01-01", -10.0], ["2026-01-03", 20.0]]),
                       (0.0, [])])  # fmt: skip
    rets, params, chosen = orp.hyperopt_epochs(tmp_path, "2026-01-01", "2026-01-05")
    assert list(rets.columns) == ["e0001", "e0002", "e0003"] and len(rets) == 4
    assert chosen == 1 and params["e0002"] == {"x": 1}  # the lowest loss
    # a return is the day's profit over the balance at the start of that day
    np.testing.assert_allclose(rets["e0002"], [-0.01, 0.0, 20 / 990, 0.0])
    assert (rets["e0003"] == 0).all() and rets["e0001"].iloc[1] == pytest.approx(0.01)
    empty, _, none = orp.hyperopt_epochs(tmp_path / "nothing", "2026-01-01", "2026-01-05")
    assert none is None and empty.shape == (4, 0)


def test_assess_counts_earlier_runs_and_reports_plain_lines(tmp_path):
    led = Ledger(tmp_path / "trials.jsonl")
    days = pd.date_range("2026-01-01", periods=120, freq="D")
    rng = np.random.default_rng(0)
    grid = pd.DataFrame(rng.normal(0, 0.01, (120, 6)), index=days,
                        columns=[f"v{i}" for i in range(6)])  # fmt: skip
    hashes = {c: f"h-{c}" for c in grid}
    assert orp.record(led, "robustness", "s", dict(grid.items()), hashes) == 6
    assert orp.record(led, "robustness", "s", dict(grid.items()), hashes) == 0  # re-run
    orp.record(led, "robustness", "s", {"v0": grid["v0"] * 2}, {"v0": "h-changed"})
    a = orp.assess(led, "robustness", "s", grid["v0"], grid)
    assert a["n_trials"] == 7 and a["pbo"] is not None and a["pbo"].n_splits == 16
    heading, body = orp.section(a, "the base config")
    assert heading.startswith("Overfitting") and "trials recorded" in body
    assert "PBO " in body and "median out of sample" in body and "DSR " in body
    lines = orp.cli_lines(a)
    assert lines[0] == "trials recorded (robustness, s): 7"


def test_pbo_is_skipped_for_one_variant_or_too_few_days():
    days = pd.date_range("2026-01-01", periods=7, freq="D")
    assert orp.pbo_or_none(pd.DataFrame({"a": np.zeros(7)}, index=days)) is None
    assert orp.pbo_or_none(pd.DataFrame({"a": np.zeros(7), "b": np.ones(7)}, index=days)) is None
    two = pd.DataFrame(np.random.default_rng(1).normal(size=(40, 2)))
    assert orp.pbo_or_none(two).n_splits == 10  # 4 days a block at least
