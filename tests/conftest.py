"""Shared fixtures: repo paths, the ../shared/data location (skip when absent), small frames."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]

# pytest-xdist workers export COLUMNS=80, and Freqtrade's rich log handler and tables then wrap
# every line at 80 characters in the child processes the tests read: workers get a wide console.
# Workers also run with SIGINT ignored, and an ignored signal stays ignored across exec: the bots
# the tests stop with Ctrl-C (SIGINT) would never stop. Workers restore Python's own handler.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["COLUMNS"] = "1000"
    signal.signal(signal.SIGINT, signal.default_int_handler)
SHARED_DATA = REPO.parent / "shared" / "data"


def run_cli(argv: list[str]) -> int:
    """`perpflow <argv>`'s exit code; a refusal (exit 2, one line on stderr) is raised as
    SystemExit carrying that line, so tests match the message the user reads."""
    import contextlib
    import io

    from perpflow.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    if code == 2:
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
        raise SystemExit(err.getvalue().strip())
    return code


def shared_data_dir(sub: str = "") -> Path:
    """Path inside ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(
            f"needs real market data at {path} (../shared/data beside the repo); absent here"
        )
    return path


def random_candles(n: int, *, seed: int = 0, start: str = "2025-03-01", freq: str = "5min"):
    """A random-walk OHLCV frame with Freqtrade's columns (UTC `date`)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.002, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    vol = rng.gamma(2.0, 50.0, n)
    dates = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    return pd.DataFrame(
        {"date": dates, "open": open_, "high": high, "low": low, "close": close, "volume": vol}
    )


@pytest.fixture
def candles():
    return random_candles(600)
