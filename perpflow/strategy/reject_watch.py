"""Exchange rejects and lost answers as Freqtrade logs them, for perpflow's alerts.

A strategy sees no callback when an order fails: Freqtrade logs it ("Unable to create trade
for ...", "Unable to place a stoploss order ...", or, for a forced entry over the REST API,
uvicorn's "Exception in ASGI application") and creates no trade. `RejectWatch` is a
`logging.Handler` on the `freqtrade` and `uvicorn.error` loggers that keeps, from WARNING
records, the pair and the classified fault (`perpflow.risk.venue_errors.classify`) of each
reject (-2019, -4131, ...) and lost answer (-1007); the strategy drains them once per loop.
Written by hand: Freqtrade has no hook for failed orders. Never raises inside logging.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque

from perpflow.risk.venue_errors import REJECT, REJECT_CODES, UNKNOWN, ExchangeFault, classify

_PAIR = re.compile(r"\b([A-Z0-9]{2,20}/[A-Z]{2,10}(?::[A-Z]{2,10})?)")
_LOGGERS = ("freqtrade", "uvicorn.error")
_lock = threading.Lock()


class RejectWatch(logging.Handler):
    """Collects (pair or None, fault) of rejects and lost answers; `drain()` hands them over."""

    _installed: RejectWatch | None = None

    def __init__(self, maxlen: int = 100):
        super().__init__(logging.WARNING)
        self.items: deque[tuple[str | None, ExchangeFault]] = deque(maxlen=maxlen)

    @classmethod
    def attach(cls) -> RejectWatch:
        """The process's watch, attached once (a reloaded strategy gets the same one)."""
        with _lock:
            if cls._installed is None:
                cls._installed = cls()
                for name in _LOGGERS:
                    logging.getLogger(name).addHandler(cls._installed)
            return cls._installed

    @classmethod
    def detach(cls) -> None:
        with _lock:
            if cls._installed is not None:
                for name in _LOGGERS:
                    logging.getLogger(name).removeHandler(cls._installed)
            cls._installed = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            exc = record.exc_info[1] if record.exc_info else None
            if exc is None and '"code"' not in text:
                return
            fault = classify(exc if exc is not None else RuntimeError(text))
            if fault.kind not in (REJECT, UNKNOWN) or (
                    fault.kind == REJECT and fault.code not in REJECT_CODES and exc is None):  # fmt: skip
                return
            found = _PAIR.search(f"{text} {exc or ''}")
            self.items.append((found.group(1) if found else None, fault))
        except Exception:  # noqa: BLE001 (a log handler must never break logging)
            self.handleError(record)

    def drain(self) -> list[tuple[str | None, ExchangeFault]]:
        """Everything collected since the last call, one entry per (pair, code)."""
        out, keys = [], set()
        while self.items:
            pair, fault = self.items.popleft()
            if (pair, fault.code, fault.kind) not in keys:
                keys.add((pair, fault.code, fault.kind))
                out.append((pair, fault))
        return out
