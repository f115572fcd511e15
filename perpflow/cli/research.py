"""`perpflow research ...`: research commands (minimal group on this branch: `select`)."""

from __future__ import annotations

from perpflow.cli import research_select
from perpflow.cli.args import group


def register(sub) -> None:
    """research select plan | confirm."""
    rsub = group(sub, "research", "event studies, pattern mining and pre-registered selection",
                 "research_cmd")  # fmt: skip
    research_select.add(rsub)
