"""The one error handler: expected user errors are one line on stderr and exit 2, bugs keep
their traceback, `--debug` keeps it always (issue 15, item 7). Each case printed a Python
traceback (or exited 1 through SystemExit) before `perpflow.cli` existed."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from perpflow.cli import main

PERPFLOW = str(Path(sys.executable).parent / "perpflow")


def _one_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_missing_data_dir_is_one_line(tmp_path, capsys):
    args = ["plot", "structure", "--pair", "BTC/USDT:USDT", "--day", "2026-06-01",
            "--datadir", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png")]  # fmt: skip
    assert main(args) == 2
    _one_line(capsys, "perpflow plot structure:", "BTC_USDT_USDT-5m-futures.feather not found")


def test_missing_backtest_result_is_one_line(tmp_path, capsys):
    assert main(["stress", "--backtest", str(tmp_path / "none"), "--config", "config.json"]) == 2
    _one_line(capsys, "perpflow stress:", "no backtest result", "make backtest")


def test_corrupt_feather_names_the_file(tmp_path, capsys):
    bad = tmp_path / "futures" / "BTC_USDT_USDT-5m-futures.feather"
    bad.parent.mkdir()
    bad.write_bytes(b"this is not an arrow file")
    args = ["plot", "structure", "--pair", "BTC/USDT:USDT", "--day", "2026-06-01",
            "--datadir", str(tmp_path), "--out", str(tmp_path / "x.png")]  # fmt: skip
    assert main(args) == 2
    _one_line(capsys, str(bad), "not a readable feather file", "re-create it")


def test_config_with_bad_json_names_the_file(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"perpflow": {"risk": }')
    assert main(["stress", "--config", str(cfg), "--backtest", str(tmp_path)]) == 2
    _one_line(capsys, str(cfg))


def test_config_value_error_is_one_line_with_the_key(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"perpflow": {"risk": {"risk_per_trade": "0.01", "trail_atr": -1}}}')
    assert main(["label", "--pairs", "BTC/USDT:USDT", "--config", str(cfg)]) == 2
    _one_line(capsys, "perpflow.risk.risk_per_trade", "perpflow.risk.trail_atr")


def test_busy_port_is_one_line(small_demo, capsys):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["venue", "serve", "--datadir", str(small_demo), "--port", str(port)]) == 2
    _one_line(capsys, "perpflow venue serve:", "address already in use", "--port")


def test_bad_date_and_bad_flags_are_one_line():
    for argv in (["sessions", "profile", "--pairs", "X", "--start", "2026-13-45", "--end", "2026-02-01"],
                 ["validate", "robustness", "--pairs", "X", "--out", "o", "--timerange", "2025-2026"],
                 ["stress", "--wick", "5"]):  # fmt: skip
        proc = subprocess.run([PERPFLOW, *argv], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_bug_keeps_its_traceback(monkeypatch):
    import perpflow.cli.reports as reports

    monkeypatch.setattr(reports, "_plot_structure", lambda args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["plot", "structure", "--pair", "X", "--day", "2026-01-01"])
    monkeypatch.setattr(reports, "_plot_structure", lambda args: int("not a number"))
    with pytest.raises(ValueError, match="invalid literal"):  # a library's ValueError is a bug
        main(["plot", "structure", "--pair", "X", "--day", "2026-01-01"])


def test_debug_keeps_the_traceback_of_a_user_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["plot", "structure", "--pair", "BTC/USDT:USDT", "--day", "2026-06-01",
              "--datadir", str(tmp_path), "--debug"])  # fmt: skip


def test_console_script_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([PERPFLOW, "risk", "report", "--backtest", str(tmp_path / "x.zip")],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().startswith("perpflow risk report: ") and "Traceback" not in proc.stderr
    )


def test_an_unwritable_store_is_one_line(tmp_path, capsys):
    from perpflow.cli.errors import user_message
    from perpflow.data.durable import StoreNotWritable

    exc = StoreNotWritable(f"{tmp_path}: the event store is not writable (read-only file system)")
    assert user_message(exc) == str(exc)
