"""`perpflow plot structure`, `perpflow sessions profile` and FreqUI annotations, run as a user
would (through the CLI entry point) on a small demo market."""

from __future__ import annotations

import pandas as pd
import pytest
from freqtrade.ft_types.plot_annotation_type import AnnotationTypeTA

from perpflow.cli import main
from perpflow.config import load_perpflow_config
from perpflow.data.demo import generate_demo_market
from perpflow.strategy.annotations import structure_annotations
from perpflow.strategy.sweep_signals import populate_sweep_indicators


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("views")
    generate_demo_market(out, days=30, seed=2, pairs=("BTC/USDT:USDT", "ETH/USDT:USDT"))
    return out


def test_plot_structure_writes_png(demo, tmp_path):
    out = tmp_path / "s.png"
    assert main(["plot", "structure", "--pair", "BTC/USDT:USDT", "--day", "2026-05-20",
                 "--datadir", str(demo), "--out", str(out)]) == 0  # fmt: skip
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_plot_structure_missing_day_is_a_clear_error(demo, tmp_path, capsys):
    assert main(["plot", "structure", "--pair", "BTC/USDT:USDT", "--day", "2030-01-01",
                 "--datadir", str(demo), "--out", str(tmp_path / "x.png")]) == 2  # fmt: skip
    assert "no BTC/USDT:USDT candles on 2030-01-01" in capsys.readouterr().err


def test_sessions_profile_table_csv_and_png(demo, tmp_path, capsys):
    out = tmp_path / "sp"
    assert main(["sessions", "profile", "--pairs", "BTC/USDT:USDT", "ETH/USDT:USDT",
                 "--start", "2026-05-01", "--end", "2026-05-31", "--datadir", str(demo),
                 "--out", str(out)]) == 0  # fmt: skip
    table = pd.read_csv(out / "session_profile.csv")
    assert set(table["block"]) == {"ny_open", "ny_close", "asia_london", "other"}
    assert (table["realised_vol_ann"] > 0).all() and (table["slippage_bps"] > 0).all()
    assert (out / "session_profile.png").stat().st_size > 10_000
    assert "realised_vol_ann" in capsys.readouterr().out


def test_annotations_validate_against_freqtrade_types(demo):
    df = pd.read_feather(demo / "futures" / "BTC_USDT_USDT-5m-futures.feather")
    f = populate_sweep_indicators(df, pair="BTC/USDT:USDT", cfg=load_perpflow_config({}),
                                  timeframe="5m", funding=None, open_interest=None)  # fmt: skip
    notes = structure_annotations(f)
    assert {n["label"] for n in notes} >= {"NY 13-16", "NY 16-21", "NY 00-07", "pool sweep"}
    for n in notes:
        AnnotationTypeTA.validate_python(n)
    assert structure_annotations(f.iloc[:0]) == []
    # the full view adds FVG boxes: unlabelled (no text over the candles), at most 3 h long
    boxes = [n for n in structure_annotations(f, zones=True) if "y_start" in n]
    assert boxes and all("label" not in n for n in boxes)
    assert all(pd.Timedelta(0) < n["end"] - n["start"] <= pd.Timedelta(hours=3) for n in boxes)
    assert not any("y_start" in n for n in notes)  # compact: none
