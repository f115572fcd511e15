"""Simulated time shared by the local exchange and a bot process: replay stored days at N x speed,
with the bot's idle waits skipped, so a day of 5m candles runs in minutes.

    virtual = origin + speed x (real - real_origin) + skipped

`skipped` lives in a small shared file: the bot process adds to it whenever its main thread sleeps
(Freqtrade's loop throttle, retry back-offs), the venue reads it on every request. Both sides
therefore see the same instant, and the venue's matching engine, funding and streams advance
with the bot rather than with the wall clock. Work costs `speed` x its real duration, so a slow
analysis still arrives late, as it would live.

In the bot process `install()` patches the clock at the C level with time-machine (time.time,
datetime.now, pandas' now, ... in every thread; monotonic clocks stay real, so network timeouts
keep their meaning) and wraps `time.sleep`. Run a command under it with
`python -m perpflow.venue.simclock <console-script> [args...]` and `PERPFLOW_SIMCLOCK` set
(`perpflow venue run --start ...` does both). Written by hand on top of time-machine: no library
runs two processes on one accelerated, idle-skipping clock.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

ENV = "PERPFLOW_SIMCLOCK"
_FMT = "<q"  # skipped nanoseconds, int64
_REAL_YIELD_S = 0.0005  # what a skipped sleep still waits for real (lets other threads run)


@dataclass(frozen=True)
class ClockSpec:
    """Where virtual time starts (`origin_ns`, epoch ns), the real instant it starts at, the
    speed factor, whether the bot's main-thread sleeps are skipped, and the shared file."""

    origin_ns: int
    real_origin_ns: int
    speed: float
    skip_idle: bool
    path: Path

    def to_env(self) -> str:
        return (f"{self.origin_ns}:{self.real_origin_ns}:{self.speed!r}:"
                f"{int(self.skip_idle)}:{self.path}")  # fmt: skip

    @classmethod
    def from_env(cls, value: str) -> ClockSpec:
        try:
            origin, real, speed, skip, path = value.split(":", 4)
            return cls(int(origin), int(real), float(speed), skip == "1", Path(path))
        except ValueError:
            raise ValueError(f"{ENV}={value!r} is not a perpflow clock spec "
                             "(origin_ns:real_origin_ns:speed:skip:path)") from None  # fmt: skip


class SimClock:
    """The shared clock. `time()` is the virtual epoch time in seconds (for `VenueServer(clock=)`);
    `skip(seconds)` moves it forward at once (what a skipped sleep does)."""

    def __init__(self, spec: ClockSpec, *, real_ns=time.time_ns):
        if not spec.speed > 0:
            raise ValueError(f"clock speed must be > 0, got {spec.speed}")
        self.spec = spec
        self._real_ns = real_ns
        self._lock = threading.Lock()
        fd = os.open(spec.path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, struct.calcsize(_FMT))
        finally:
            os.close(fd)

    @classmethod
    def create(cls, path: Path, *, origin_ns: int, speed: float = 1.0,
               skip_idle: bool = False) -> SimClock:  # fmt: skip
        """A new clock whose virtual time is `origin_ns` now, its shared file at `path`."""
        path = Path(path)
        path.write_bytes(struct.pack(_FMT, 0))
        return cls(ClockSpec(int(origin_ns), time.time_ns(), float(speed), skip_idle, path))

    def skipped_ns(self) -> int:
        return struct.unpack_from(_FMT, self._map, 0)[0]

    def time_ns(self) -> int:
        s = self.spec
        return int(s.origin_ns + s.speed * (self._real_ns() - s.real_origin_ns)) + self.skipped_ns()

    def time(self) -> float:
        return self.time_ns() / 1e9

    def skip(self, seconds: float) -> None:
        """Advance virtual time by `seconds` at once (only the bot process calls this)."""
        if seconds <= 0:
            return
        with self._lock:
            struct.pack_into(_FMT, self._map, 0, self.skipped_ns() + int(seconds * 1e9))


class _Traveller:
    """What time-machine's C patches ask for the current time (its `Traveller` protocol)."""

    _destination_tzname = None

    def __init__(self, clock: SimClock):
        self.clock = clock

    def time_ns(self) -> int:
        return self.clock.time_ns()


def install(spec: ClockSpec) -> SimClock:
    """Put this process on the shared clock: patch the time functions and `time.sleep`."""
    import _time_machine
    import time_machine

    _time_machine.patch()
    clock = SimClock(spec, real_ns=_time_machine.original_time_ns)
    time_machine.traveller_stack.append(_Traveller(clock))
    real_sleep = time.sleep
    main = threading.main_thread()

    def sleep(seconds: float) -> None:
        if spec.skip_idle and threading.current_thread() is main:
            clock.skip(seconds)
            real_sleep(_REAL_YIELD_S)
        else:
            real_sleep(max(0.0, seconds) / spec.speed)

    time.sleep = sleep
    logger.info("simulated clock: speed %g, idle %s, now %s", spec.speed,
                "skipped" if spec.skip_idle else "waited", time.strftime("%Y-%m-%d %H:%M:%S"))  # fmt: skip
    return clock


def run_console_script(argv: list[str]) -> int:
    """Run the console script `argv[0]` (e.g. `freqtrade` or its path) with `argv[1:]` in this
    process, on the clock of `PERPFLOW_SIMCLOCK`."""
    from importlib.metadata import entry_points

    if not argv:
        raise SystemExit("usage: python -m perpflow.venue.simclock <console-script> [args...]")
    value = os.environ.get(ENV)
    if not value:
        raise SystemExit(
            f"{ENV} is not set: start the command through `perpflow venue run --start`"
        )
    install(ClockSpec.from_env(value))
    name = Path(argv[0]).name
    found = entry_points(group="console_scripts", name=name)
    if not found:
        raise SystemExit(f"{name}: not a console script of this Python ({sys.executable})")
    sys.argv = [name, *argv[1:]]
    result = next(iter(found)).load()()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(run_console_script(sys.argv[1:]))
