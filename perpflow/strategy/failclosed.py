"""Log-once bookkeeping for fail-closed filters (one line per pair and reason, not per candle)."""

from __future__ import annotations

import logging

_seen: set[tuple[str, str]] = set()


def warn_once(logger: logging.Logger, pair: str, reason: str, message: str) -> None:
    """Log `message` at WARNING the first time (pair, reason) is seen in this process."""
    key = (pair, reason)
    if key in _seen:
        return
    _seen.add(key)
    logger.warning("%s: %s", pair, message)


def reset() -> None:
    """Forget what was logged (tests)."""
    _seen.clear()
