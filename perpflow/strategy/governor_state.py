"""Where the drawdown governor's state lives outside the process.

Dry-run/live: Freqtrade's own `KeyValueStore` (the `KeyValueStore` table of the bot's trade
database, `db_url`). It is the same database as the trades, the wallet and the governor's global
lock, so the peak belongs to exactly the account it was measured on: a restart with the same
database keeps peak and trip, a fresh dry-run database starts fresh. Three keys, plain typed
values (the table's string column holds 255 characters, so no JSON blob): `perpflow_gov_peak`
(float), `perpflow_gov_tripped_at` (datetime, deleted on re-arm), `perpflow_gov_rearm` (the last
config re-arm value seen).

Backtests: no database; `BacktestHistory` writes the governor's samples (equity with open profit,
peak, drawdown, scale, open risk, budget) and events to a CSV next to the backtest results
(`perpflow-governor-<Strategy>-<wall clock>-<pid>.csv`), which `perpflow risk report` matches
to the result whose run it falls in. Written line by line (line-buffered) because Freqtrade has
no strategy callback after the last candle of a backtest.
"""

from __future__ import annotations

import csv
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from perpflow.risk.governor import DrawdownGovernor

logger = logging.getLogger(__name__)

PEAK_KEY = "perpflow_gov_peak"
TRIPPED_KEY = "perpflow_gov_tripped_at"
REARM_KEY = "perpflow_gov_rearm"
HISTORY_PREFIX = "perpflow-governor-"
HISTORY_COLUMNS = ("date", "equity", "peak", "drawdown", "scale", "open_risk", "budget",
                   "cap", "level", "event", "note")  # fmt: skip


def load_state(gov: DrawdownGovernor) -> bool:
    """Restore peak, trip and the last re-arm value from the bot's database; True if found."""
    from freqtrade.persistence import KeyValueStore

    peak = KeyValueStore.get_float_value(PEAK_KEY)  # type: ignore[arg-type]
    if peak is None:
        return False
    tripped = KeyValueStore.get_datetime_value(TRIPPED_KEY)  # type: ignore[arg-type]
    token = KeyValueStore.get_string_value(REARM_KEY)  # type: ignore[arg-type]
    gov.restore(peak, tripped, token)
    return True


def save_state(gov: DrawdownGovernor, saved: dict) -> None:
    """Write what changed since the last save (`saved` remembers it) to the bot's database."""
    from freqtrade.persistence import KeyValueStore

    now = {"peak": gov.peak, "tripped": gov.tripped_at, "token": gov.rearm_token}
    if now == saved:
        return
    if gov.peak is not None and now["peak"] != saved.get("peak"):
        KeyValueStore.store_value(PEAK_KEY, float(gov.peak))  # type: ignore[arg-type]
    if now["tripped"] != saved.get("tripped"):
        if gov.tripped_at is None:
            KeyValueStore.delete_value(TRIPPED_KEY)  # type: ignore[arg-type]
        else:
            KeyValueStore.store_value(TRIPPED_KEY, gov.tripped_at)  # type: ignore[arg-type]
    if gov.rearm_token is not None and now["token"] != saved.get("token"):
        KeyValueStore.store_value(REARM_KEY, gov.rearm_token)  # type: ignore[arg-type]
    saved.update(now)


class BacktestHistory:
    """Appends governor samples and events to one CSV per backtest run (see module docstring)."""

    def __init__(self, directory: Path, strategy: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d_%H-%M-%S")
        self.path = directory / f"{HISTORY_PREFIX}{strategy}-{stamp}-{os.getpid()}.csv"
        self._fh = self.path.open("w", newline="", buffering=1)
        self._writer = csv.writer(self._fh)
        self._writer.writerow(HISTORY_COLUMNS)
        self._last: tuple | None = None
        logger.info("governor history of this backtest: %s", self.path)

    def sample(self, now: datetime, gov: DrawdownGovernor, equity: float, open_risk: float,
               budget: float, event: str = "", note: str = "") -> None:  # fmt: skip
        """One row; unchanged samples (flat account, same level) are skipped."""
        key = (round(equity, 6), gov.level, round(open_risk, 6))
        if not event and key == self._last:
            return
        self._last = key
        self._writer.writerow((now.isoformat(), f"{equity:.6f}", f"{gov.peak or equity:.6f}",
                               f"{gov.drawdown(equity):.6f}", gov.scale, f"{open_risk:.6f}",
                               f"{budget:.6f}", gov.hard, gov.level, event, note))  # fmt: skip

    def close(self) -> None:
        self._fh.close()
