"""The simulated clock: one virtual time for the venue and a bot process, N x speed, idle skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from perpflow.venue.simclock import ENV, ClockSpec, SimClock

ORIGIN = pd.Timestamp("2026-06-10 00:00", tz="UTC")


def test_spec_round_trips_through_the_environment(tmp_path):
    clock = SimClock.create(tmp_path / "c", origin_ns=ORIGIN.value, speed=12.5, skip_idle=True)
    assert ClockSpec.from_env(clock.spec.to_env()) == clock.spec
    with pytest.raises(ValueError, match="PERPFLOW_SIMCLOCK"):
        ClockSpec.from_env("nonsense")


def test_speed_scales_real_time_and_skips_add_on_both_sides(tmp_path):
    real = [0]
    spec = ClockSpec(ORIGIN.value, 0, 60.0, True, tmp_path / "c")
    (tmp_path / "c").write_bytes(b"\0" * 8)
    venue_side = SimClock(spec, real_ns=lambda: real[0])
    bot_side = SimClock(spec, real_ns=lambda: real[0])
    assert venue_side.time_ns() == ORIGIN.value
    real[0] = 1_000_000_000  # one real second = a virtual minute
    assert venue_side.time_ns() == ORIGIN.value + 60_000_000_000
    bot_side.skip(300)  # the bot skips a five-minute wait
    assert venue_side.time_ns() == ORIGIN.value + 360_000_000_000
    bot_side.skip(-5)  # never backwards
    assert venue_side.time() == bot_side.time()


def test_a_process_on_the_clock_sees_virtual_time_and_skips_its_sleeps(tmp_path):
    clock = SimClock.create(tmp_path / "c", origin_ns=ORIGIN.value, skip_idle=True)
    code = (
        "import os, time, datetime, pandas as pd\n"
        "from perpflow.venue.simclock import ENV, ClockSpec, install\n"
        "install(ClockSpec.from_env(os.environ[ENV]))\n"
        "t0 = time.time()\n"
        "time.sleep(3600)\n"
        "print(t0, time.time(), datetime.datetime.now(datetime.UTC).timestamp(),"
        " pd.Timestamp.now(tz='UTC').timestamp())\n"
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, ENV: clock.spec.to_env()}, check=True)  # fmt: skip
    real = time.monotonic() - started
    t0, t1, dt_now, pd_now = map(float, out.stdout.split())
    origin = ORIGIN.value / 1e9
    assert origin <= t0 < origin + real + 1  # the child started on the replay's clock
    assert t1 - t0 >= 3600  # its hour-long sleep passed ...
    assert real < 60  # ... without waiting an hour
    assert abs(dt_now - t1) < 5 and abs(pd_now - t1) < 5  # datetime and pandas agree
    assert clock.time() >= origin + 3600  # and the other side saw the skip


def test_console_script_runner_needs_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != ENV}
    out = subprocess.run([sys.executable, "-m", "perpflow.venue.simclock", "freqtrade", "--version"],
                         capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert out.returncode != 0 and ENV in out.stderr
    clock = SimClock.create(tmp_path / "c", origin_ns=ORIGIN.value)
    out = subprocess.run([sys.executable, "-m", "perpflow.venue.simclock", "freqtrade", "--version"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, ENV: clock.spec.to_env()})  # fmt: skip
    assert out.returncode == 0 and "2026.9" in out.stdout + out.stderr
