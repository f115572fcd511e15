"""`perpflow research ...`: what each read is worth on real markets (`perpflow.research`)."""

from __future__ import annotations

from perpflow.cli import research_patterns
from perpflow.cli.args import group


def register(sub) -> None:
    """research patterns."""
    rsub = group(
        sub, "research", "event studies and pattern mining on real candles", "research_cmd"
    )
    research_patterns.add(rsub)
