"""`perpflow research events` on a small SYNTHETIC demo market: files, report, printed cells,
one-line refusals for bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from perpflow.research.cells import CELL_COLUMNS
from perpflow.research.events import EVENT_COLUMNS
from tests.conftest import run_cli


def test_events_command_writes_tables_and_report(demo, tmp_path, capsys):
    out = tmp_path / "ev"
    code = run_cli(["research", "events", "--datadir", str(demo), "--draws", "50",
                    "--min-events", "20", "--out", str(out), "--top", "5"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "cell x horizon tests" in printed and f"report: {out / 'report.html'}" in printed
    events = pd.read_parquet(out / "events.parquet")
    cells = pd.read_parquet(out / "cells.parquet")
    assert tuple(events.columns) == EVENT_COLUMNS and len(events) > 0
    assert tuple(cells.columns) == CELL_COLUMNS
    assert set(cells["horizon"]) == {"15m", "1h", "4h", "1d"}
    assert cells.loc[cells["tested"], "p"].notna().all()
    assert (cells["n"] >= 1).all()
    assert "Fan charts" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pairs", "NOPE/USDT:USDT"], "NOPE/USDT:USDT: no 5m candles in"),
        (["--timerange", "20300101-20300201"], "no 5m candles in the timerange 20300101-20300201"),
        (["--timerange", "20250201-20250101"], "the start must be before the end"),
        (["--timerange", "2025"], "expected YYYYMMDD-YYYYMMDD"),
    ],
)
def test_bad_input_is_one_line(demo, tmp_path, argv, message):
    with pytest.raises(SystemExit, match=message):
        run_cli(["research", "events", "--datadir", str(demo), "--out", str(tmp_path), *argv])
