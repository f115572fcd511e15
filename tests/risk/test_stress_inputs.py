"""`perpflow stress` refuses what it cannot know (issue 15, item 6) and its leverage caps are
the rules' (moved out of the CLI)."""

from __future__ import annotations

import pytest

from perpflow.cli import main
from perpflow.config import load_perpflow_config
from perpflow.data.demo import generate_demo_market
from perpflow.errors import UserError
from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
from perpflow.risk.stress import allowed_leverage, require_leverage
from tests.result_files import write_result


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("stress-demo")
    generate_demo_market(out, days=30, seed=3, pairs=("BTC/USDT:USDT",))
    return out


def test_result_without_leverage_is_refused_not_passed(demo, tmp_path, capsys):
    # before: the loader filled leverage 1.0, the wick test passed and stress printed OK, exit 0
    spot = write_result(tmp_path / "spot.json", futures=False)
    args = ["stress", "--datadir", str(demo), "--out", str(tmp_path / "s")]
    assert main([*args, "--backtest", str(spot)]) == 2
    err = capsys.readouterr().err
    assert "carry no is_short, leverage" in err and str(spot) in err and len(err.splitlines()) == 1
    futures = write_result(tmp_path / "fut.json")
    assert main([*args, "--backtest", str(futures)]) == 0
    assert "OK: no scenario liquidates" in capsys.readouterr().out


def test_require_leverage_names_what_is_missing(tmp_path):
    from perpflow.data.backtests import load_backtest

    spot = load_backtest(write_result(tmp_path / "s.json", futures=False))
    assert spot.missing == {"leverage", "is_short", "funding_fees"}
    with pytest.raises(UserError, match="leverage"):
        require_leverage(spot.trades, spot.missing, "r")
    frame = load_backtest(write_result(tmp_path / "f.json")).trades
    require_leverage(frame, frozenset(), "r")
    with pytest.raises(UserError, match="null in some trades"):
        require_leverage(frame.assign(leverage=[3.0, None, 3.0]), frozenset(), "r")


@pytest.mark.parametrize(("exchange_max", "mmr"), [(None, None), (20.0, 0.004), (2.0, 0.05)])
def test_allowed_leverage_is_the_tightest_cap(exchange_max, mmr):
    r = load_perpflow_config({}).risk
    safe = liquidation_safe_leverage(r.min_stop_distance, buffer=r.liquidation_buffer,
                                     maintenance_margin_rate=max(r.maintenance_margin_rate, mmr or 0))  # fmt: skip
    expected = capped_leverage(r.max_leverage, exchange_max or r.max_leverage, safe)
    assert allowed_leverage(r, exchange_max=exchange_max, exchange_mmr=mmr) == expected
    assert allowed_leverage(r, exchange_max=exchange_max, exchange_mmr=mmr) <= r.max_leverage


def test_stress_imports_no_plotting_module():
    import subprocess
    import sys

    code = ("import sys, perpflow.risk.stress; "
            "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'plotly'))))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
