"""Log-once bookkeeping for fail-closed filters (one line per pair and reason, not per candle)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

_seen: set[tuple[str, str]] = set()
_last: dict[tuple[str, str], datetime] = {}


def warn_once(logger: logging.Logger, pair: str, reason: str, message: str) -> None:
    """Log `message` at WARNING the first time (pair, reason) is seen in this process."""
    key = (pair, reason)
    if key in _seen:
        return
    _seen.add(key)
    logger.warning("%s: %s", pair, message)


def log_limited(
    logger: logging.Logger, pair: str, reason: str, when: datetime, message: str,
    every: timedelta = timedelta(days=1),
) -> None:  # fmt: skip
    """Log at INFO at most once per `every` of candle time for each (pair, reason)."""
    key = (pair, reason)
    last = _last.get(key)
    if last is not None and abs(when - last) < every:
        return
    _last[key] = when
    logger.info("%s: %s", pair, message)


def reset() -> None:
    """Forget what was logged (tests)."""
    _seen.clear()
    _last.clear()
