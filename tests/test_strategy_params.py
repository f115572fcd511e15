"""LiquiditySweep's hyperopt parameters replace perpflow values only when enabled."""

from __future__ import annotations

import importlib.util
import json

from perpflow.config import load_perpflow_config
from tests.conftest import REPO


def _strategy(section: dict):
    spec = importlib.util.spec_from_file_location("ls", REPO / "strategies" / "LiquiditySweep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfg = json.loads((REPO / "config.json").read_text())
    cfg["perpflow"] = section
    s = mod.LiquiditySweep(cfg)
    s._pf_base = load_perpflow_config(cfg)
    return s


def test_parameters_override_only_when_enabled():
    s = _strategy({"sweep": {"max_depth_atr": 2.2}, "risk": {"take_profit_r": 4.4}})
    s.max_depth_atr.value, s.take_profit_r.value, s.trail_atr.value = 0.9, 2.0, 3.5
    s._apply_hyperopt_params()
    assert s.pf.sweep.max_depth_atr == 2.2 and s.pf.risk.take_profit_r == 4.4  # config rules
    on = _strategy({"hyperopt": {"enabled": True}, "sweep": {"max_depth_atr": 2.2}})
    on.max_depth_atr.value, on.take_profit_r.value, on.trail_atr.value = 0.9, 2.0, 3.5
    on._apply_hyperopt_params()
    assert (on.pf.sweep.max_depth_atr, on.pf.risk.take_profit_r, on.pf.risk.trail_atr) == (
        0.9, 2.0, 3.5)  # fmt: skip
    assert on.pf.sweep.swing_left == on._pf_base.sweep.swing_left, "nothing else changes"


def test_plot_config_is_compact_by_default_and_full_on_request():
    from perpflow.strategy.plot import plot_config

    compact, full = plot_config("compact"), plot_config("full")
    assert len(compact["subplots"]) <= 4 and "risk (live)" in compact["subplots"]
    assert set(compact["main_plot"]) < set(full["main_plot"])
    assert set(compact["subplots"]) - {"funding z / OI regime"} <= set(full["subplots"])
    ai = plot_config("compact", extra_subplots={"AI vote": {"win": {}}})
    assert list(ai["subplots"])[0] == "AI vote"
    compact["main_plot"]["x"] = {}  # callers get their own copy
    assert "x" not in plot_config("compact")["main_plot"]


def test_strategy_plot_config_follows_the_perpflow_section():
    assert "fvg_bull_top" not in _strategy({}).plot_config["main_plot"]
    assert "fvg_bull_top" in _strategy({"plot": "full"}).plot_config["main_plot"]
