"""`perpflow venue run`: start the local exchange, write the Freqtrade overlay pointing at it,
run a command with `{overlay}` replaced, stop the exchange, and return the command's exit code.

With a start instant the exchange replays from there and the command runs on the same simulated
clock (`perpflow.venue.simclock`); with `live` it gets a key pair for the run and `dry_run` off.
A `freqtrade` command of this Python runs under `perpflow.venue.ftguard`, so a Freqtrade
configuration error (which Freqtrade itself exits 0 on) becomes exit code 2.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from perpflow.errors import UserError

logger = logging.getLogger(__name__)


def write_overlay(venue_url: str, out: Path, extra: dict | None = None) -> Path:
    """Write a Freqtrade config overlay pointing the binance exchange at `venue_url`."""
    from perpflow.venue.overlay import exchange_overlay

    overlay = exchange_overlay(venue_url)
    for key, value in (extra or {}).items():
        overlay[key] = value
    Path(out).write_text(json.dumps(overlay, indent=2) + "\n")
    return Path(out)


def private_side(api_key_env: str | None, *, state: str | None, wallet: float, maker_fee: float,
                 taker_fee: float, live: bool = False) -> tuple[dict | None, dict]:  # fmt: skip
    """API keys (from the env var named `api_key_env`) and the private side's options: none
    unless a key is given or `live` makes one."""
    private = {"state": Path(state) if state else None, "wallet": wallet,
               "maker_fee": maker_fee, "taker_fee": taker_fee}  # fmt: skip
    if not api_key_env:
        return None, (private if live else {})
    from perpflow.venue.auth import keys_from_env

    return keys_from_env(api_key_env), private


def live_keys(keys: dict | None, env: dict | None, private: dict, tmp: Path):
    """The venue's keys (a fresh pair unless given) and the child's environment with them as
    Freqtrade's exchange key and `dry_run` off; the ledger lives in `tmp` unless `state` is set."""
    keys = keys or {secrets.token_hex(16): secrets.token_hex(32)}
    key, secret = next(iter(keys.items()))
    private["state"] = private.get("state") or tmp / "venue-ledger.sqlite"
    env = {**(env or os.environ), "FREQTRADE__EXCHANGE__KEY": key,
           "FREQTRADE__EXCHANGE__SECRET": secret, "FREQTRADE__DRY_RUN": "false"}  # fmt: skip
    return keys, env


def sim_clock(start: str | None, *, speed: float, skip_idle: bool, tmp: Path):
    """The shared clock and child environment for a replay from `start` (None, None without)."""
    if not start:
        return None, None
    import pandas as pd

    from perpflow.venue.simclock import ENV, SimClock

    t = pd.Timestamp(start)
    origin = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    clock = SimClock.create(tmp / "clock", origin_ns=origin.value, speed=speed, skip_idle=skip_idle)
    return clock, {**os.environ, ENV: clock.spec.to_env()}


def _is_own_freqtrade(program: str) -> bool:
    """`program` is the `freqtrade` console script of this Python (by path, or found on PATH)."""
    if Path(program).name != "freqtrade":
        return False
    found = shutil.which(program)
    return (
        found is not None
        and Path(found).absolute().parent == Path(sys.executable).absolute().parent
    )


def wrap_command(command: list[str], *, clock: bool) -> list[str]:
    """Run `freqtrade` under the config-error guard (which also installs the simulated clock),
    other console scripts under the clock when there is one, anything else as given."""
    if _is_own_freqtrade(command[0]):
        return [sys.executable, "-m", "perpflow.venue.ftguard", *command]
    if clock:
        return [sys.executable, "-m", "perpflow.venue.simclock", *command]
    return command


def run_child(command: list[str], env: dict | None) -> int:
    """Run the command to its end and return its exit code (128 + N when killed by signal N);
    SIGTERM to this process reaches it too, so the bot never outlives its exchange."""
    try:
        proc = subprocess.Popen(command, env=env)
    except FileNotFoundError:
        raise UserError(f"{command[0]}: command not found (give its path, e.g. "
                        ".venv/bin/freqtrade)") from None  # fmt: skip
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 128 - code if code < 0 else code


def run_with_venue(command: list[str], *, datadir: Path, mode: str = "history",
                   start: str | None = None, speed: float = 1.0, skip_idle: bool = False,
                   live: bool = False, keys: dict | None = None,
                   private: dict | None = None) -> int:  # fmt: skip
    """Serve `datadir` on an ephemeral port for the life of `command` (see the module doc)."""
    from perpflow.venue.server import VenueServer

    command = [c for c in command if c != "--"]
    if not command:
        raise UserError("give the command to run after --, e.g. -- freqtrade backtesting "
                        "-c config.json -c {overlay}")  # fmt: skip
    private = dict(private or {})
    with tempfile.TemporaryDirectory(prefix="perpflow-venue-") as tmp:
        clock, env = sim_clock(start, speed=speed, skip_idle=skip_idle, tmp=Path(tmp))
        kwargs = {"clock": clock.time, "replay_date": start} if clock else {}
        if live:
            keys, env = live_keys(keys, env, private, Path(tmp))
        with VenueServer(Path(datadir), mode="replay" if clock else mode, port=0, api_keys=keys,
                         **private, **kwargs) as venue:  # fmt: skip
            overlay = write_overlay(venue.url, Path(tmp) / "config.venue.json")
            argv = wrap_command([c.replace("{overlay}", str(overlay)) for c in command],
                                clock=clock is not None)  # fmt: skip
            logger.info("venue %s; running %s", venue.url, " ".join(argv))
            return run_child(argv, env)
