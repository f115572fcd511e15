"""`perpflow config overlay | check`: the exchange overlay for a running local exchange, and the
check every make target runs before Freqtrade (`perpflow.config_files.check_config`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import command, config_files, files_of, group


def _overlay(args: argparse.Namespace) -> int:
    from perpflow.venue.runner import write_overlay

    print(f"wrote {write_overlay(args.venue_url, Path(args.out))}")
    return 0


def _check(args: argparse.Namespace) -> int:
    """Exit 0 with what was checked; a problem is one line and exit 2 (the error handler)."""
    from perpflow.config_files import check_config

    lines = check_config(files_of(args))
    print("config OK: " + "; ".join(lines))
    return 0


def register(sub) -> None:
    """config overlay, config check."""
    csub = group(sub, "config", "config helpers", "config_cmd")
    ov = command(csub, "overlay", _overlay, "write the exchange overlay for a running venue")
    ov.add_argument("--venue-url", required=True)
    ov.add_argument("--out", default="config.local.json")
    ck = command(csub, "check", _check, "validate the merged config's perpflow section, Freqtrade's "
                 "checks and the security rules (API server and Telegram secrets from the environment)")  # fmt: skip
    config_files(ck, ["config.json"], "merged as freqtrade merges them, environment included")
