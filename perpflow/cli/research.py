"""`perpflow research events | patterns | select`: what each read is worth on real markets
(`perpflow.research`). Each sub-command lives in its own module with an `add(rsub)`; adding one
is one entry in `SUBCOMMANDS`."""

from __future__ import annotations

from perpflow.cli import research_events, research_patterns, research_select
from perpflow.cli.args import group

SUBCOMMANDS = (research_events, research_patterns, research_select)


def register(sub) -> None:
    """research events | patterns | select."""
    rsub = group(sub, "research", "event study, pattern mining and pre-registered selection",
                 "research_cmd")  # fmt: skip
    for module in SUBCOMMANDS:
        module.add(rsub)
