"""Exchange rejects and lost answers as Freqtrade logs them, for perpflow's alerts.

A strategy sees no callback when an order fails: Freqtrade logs it ("Unable to create trade
for ...", "Unable to place a stoploss order ...", or, for a forced entry over the REST API,
uvicorn's "Exception in ASGI application") and creates no trade. `RejectWatch` is a
`logging.Handler` on the `freqtrade` and `uvicorn.error` loggers that keeps, from WARNING
records, the pair and the classified fault (`perpflow.risk.venue_errors.classify`) of each
reject (-2019, -4131, ...) and lost answer (-1007), the pair from the message or else from the
traceback's `pair` argument; the strategy drains them once per loop.
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


def _pair_in_traceback(exc: BaseException | None) -> str | None:
    """The `pair` argument of the innermost Freqtrade frame that had one (a forced entry's
    exception names no pair: `execute_entry(pair, ...)` does)."""
    tb, pair = exc.__traceback__ if exc is not None else None, None
    while tb is not None:
        value = tb.tb_frame.f_locals.get("pair")
        if isinstance(value, str) and _PAIR.fullmatch(value):
            pair = value
        tb = tb.tb_next
    return pair


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
            pair = found.group(1) if found else _pair_in_traceback(exc)
            self.items.append((pair, fault))
        except Exception:  # noqa: BLE001 (a log handler must never break logging)
            self.handleError(record)

    def drain(self) -> list[tuple[str | None, ExchangeFault]]:
        """Everything collected since the last call, one entry per (pair, kind, code); a fault
        logged twice (Freqtrade's line and a traceback) keeps the record that names the pair."""
        items = []
        while self.items:
            items.append(self.items.popleft())
        named = {(f.kind, f.code) for pair, f in items if pair is not None}
        out, keys = [], set()
        for pair, fault in items:
            key = (pair, fault.kind, fault.code)
            if key in keys or (pair is None and (fault.kind, fault.code) in named):
                continue
            keys.add(key)
            out.append((pair, fault))
        return out
