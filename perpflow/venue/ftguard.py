"""Run Freqtrade's console script in this process and make its configuration errors fail.

Freqtrade 2026.9 (`freqtrade/main.py`) catches `ConfigurationError`, logs
"Configuration error: ..." on its `freqtrade` logger and exits with code 0 (its return code
stays None), so a wrapper cannot tell a bad config from success by the exit code. This module
watches that logger call (it wraps `freqtrade.main.logger`; Freqtrade's own logging set-up
replaces handlers, not that object) and turns such an exit into code 2. With
`PERPFLOW_SIMCLOCK` set it also installs the simulated clock first (`perpflow.venue.simclock`).

    python -m perpflow.venue.ftguard freqtrade backtesting -c config.json ...
"""

from __future__ import annotations

import os
import sys

CONFIG_ERROR = "Configuration error:"
EXIT_CONFIG_ERROR = 2


def config_error(output: str) -> str | None:
    """The first "Configuration error: ..." line of a Freqtrade run's output, or None."""
    for line in output.splitlines():
        at = line.find(CONFIG_ERROR)
        if at >= 0:
            return line[at:].strip()
    return None


class _Watch:
    """Stands in for `freqtrade.main.logger`: remembers a configuration error, passes all on."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.message: str | None = None

    def error(self, msg, *args, **kwargs) -> None:
        if isinstance(msg, str) and msg.startswith(CONFIG_ERROR) and self.message is None:
            self.message = msg.splitlines()[0]
        self.inner.error(msg, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run(argv: list[str]) -> int:
    """Run the console script `argv[0]` with `argv[1:]`; its exit code, or 2 when it was a
    Freqtrade configuration error."""
    import freqtrade.main as ftmain

    from perpflow.venue import simclock

    watch = _Watch(ftmain.logger)
    ftmain.logger = watch
    try:
        if os.environ.get(simclock.ENV):
            code = simclock.run_console_script(argv)
        else:
            sys.argv = ["freqtrade", *argv[1:]]
            code = int(ftmain.main() or 0)
    except SystemExit as exc:
        code = _exit_code(exc)
    finally:
        ftmain.logger = watch.inner
    if code == 0 and watch.message:
        print(f"perpflow: freqtrade stopped on a configuration error and exited 0; treating it as "
              f"a failure (exit {EXIT_CONFIG_ERROR}): {watch.message}", file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG_ERROR
    return code


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m perpflow.venue.ftguard freqtrade [args...]")
    sys.exit(run(sys.argv[1:]))
