"""`perpflow venue run -- COMMAND`: the command's exit code is perpflow's, and a Freqtrade
configuration error (on which Freqtrade itself exits 0) is a failure (issue 15, item 7)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from perpflow.cli import main
from perpflow.venue.ftguard import config_error
from tests.conftest import REPO

FREQTRADE = str(Path(sys.executable).parent / "freqtrade")


@pytest.mark.parametrize("code", [0, 1, 3])
def test_wrapped_exit_code_is_returned(small_demo, code):
    assert (
        main(["venue", "run", "--datadir", str(small_demo), "--", "sh", "-c", f"exit {code}"])
        == code
    )


def test_no_command_is_one_line(small_demo, capsys):
    assert main(["venue", "run", "--datadir", str(small_demo)]) == 2
    assert "give the command to run after --" in capsys.readouterr().err


def test_freqtrade_config_error_fails_the_run(small_demo, tmp_path, capfd):
    # unlimited stake with unlimited trades: Freqtrade's ConfigurationError, which it exits 0 on
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"max_open_trades": -1, "stake_amount": "unlimited"}))
    code = main(["venue", "run", "--datadir", str(small_demo), "--", FREQTRADE, "backtesting",
                 "-c", str(REPO / "config.json"), "-c", "{overlay}", "-c", str(bad),
                 "--datadir", str(small_demo), "--strategy", "LiquiditySweep",
                 "--timerange", "20260520-20260521"])  # fmt: skip
    assert code == 2
    err = capfd.readouterr().err
    assert "treating it as a failure" in err and "Configuration error:" in err


def test_config_error_line_is_found_in_output():
    out = "x - freqtrade - INFO - ok\n2026 - freqtrade - ERROR - Configuration error: bad thing.\nmore"
    assert config_error(out) == "Configuration error: bad thing."
    assert config_error("all fine\n") is None


def test_freqtrade_on_the_simulated_clock_runs_under_the_guard(small_demo, capfd):
    """`--start`: the guard runs Freqtrade through simclock (which refuses to run without the
    clock's environment, so a clean exit shows the clock was handed over)."""
    code = main(["venue", "run", "--datadir", str(small_demo), "--start", "2026-05-20T00:00", "--",
                 FREQTRADE, "--version"])  # fmt: skip
    assert code == 0
    out = capfd.readouterr()
    assert "freqtrade 2026.9" in out.out + out.err
