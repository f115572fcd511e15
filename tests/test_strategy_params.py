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
