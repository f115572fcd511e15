"""Drawdown governor: equity (with open profit) against its running peak, in three levels.

normal -> soft (drawdown >= `soft`): size and leverage x `soft_scale`; back to normal only once
          the drawdown is below `soft` x `recover` (hysteresis: no flapping at the line);
       -> hard (drawdown >= `hard`, or flat with less than `min_room` of the peak left before
          it): tripped. No entries until an operator re-arms (`rearm`); time never re-bases the
          peak. Re-arming re-bases the peak to the equity of that moment: the operator's
          explicit decision, recorded in `history`.

`budget` is what a new trade may lose at its stop so that the account, with every open trade
stopped out as well, stays within the hard cap: equity - open risk - (1 - hard) x peak.
Written by hand: a few lines of state, no library models a drawdown cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Every global lock the governor sets starts with this (the rest says how to re-arm).
LOCK_REASON = "perpflow drawdown governor"
REARM_HINT = (
    "hard cap {hard:.0%} reached; re-arm: delete this lock (Telegram /delete_locks, FreqUI Locks, "
    "DELETE /api/v1/locks/<id>) or set perpflow.risk.governor.rearm to a new value + /reload_config"
)


def lock_reason(hard: float) -> str:
    """The reason text of the global lock a trip sets (starts with `LOCK_REASON`)."""
    return f"{LOCK_REASON}: {REARM_HINT.format(hard=hard)}"


def is_governor_lock(reason: str | None) -> bool:
    return bool(reason) and str(reason).startswith(LOCK_REASON)


@dataclass
class GovernorEvent:
    """One level change, trip or re-arm (`kind`), with the equity and peak of that moment."""

    time: datetime
    kind: str  # "soft", "normal", "hard" (trip) or "rearm"
    drawdown: float
    equity: float
    peak: float
    note: str = ""


@dataclass
class DrawdownGovernor:
    soft: float = 0.08
    hard: float = 0.10
    soft_scale: float = 0.5
    recover: float = 0.5
    min_room: float = 0.0025  # flat with less room than this (share of peak) left: tripped
    peak: float | None = None
    level: str = "normal"
    tripped_at: datetime | None = None
    rearm_token: str | None = None  # the last config re-arm value seen (applied or not)
    history: list[GovernorEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.soft < self.hard < 1:
            raise ValueError(f"need 0 < soft ({self.soft}) < hard ({self.hard}) < 1")
        if not 0 <= self.min_room < self.hard:
            raise ValueError(f"need 0 <= min_room ({self.min_room}) < hard ({self.hard})")

    @property
    def tripped(self) -> bool:
        return self.tripped_at is not None

    def drawdown(self, equity: float) -> float:
        """Drawdown of `equity` from the running peak (0 before the first sample)."""
        return 0.0 if not self.peak else max(0.0, 1.0 - equity / self.peak)

    def budget(self, equity: float, open_risk: float) -> float:
        """Quote amount a new trade may lose at its stop (0 when tripped or nothing is left)."""
        if self.tripped or not equity > 0:
            return 0.0
        peak = max(self.peak or equity, equity)
        return max(0.0, equity - max(open_risk, 0.0) - (1.0 - self.hard) * peak)

    def update(self, equity: float, now: datetime, *, open_trades: int = 0) -> str | None:
        """Feed the current equity; returns the new level when it changed, else None.
        A trip (`hard`) lasts until `rearm`; the peak keeps following the equity meanwhile."""
        if not equity > 0:
            return None
        self.peak = equity if self.peak is None else max(self.peak, equity)
        if self.tripped:
            return None
        dd = self.drawdown(equity)
        if dd >= self.hard or (open_trades == 0 and dd > self.hard - self.min_room):
            self.tripped_at = now
            return self._set(now, "hard", dd, equity)
        if dd >= self.soft:
            level = "soft"
        elif self.level == "soft" and dd >= self.soft * self.recover:
            level = "soft"  # not recovered enough yet
        else:
            level = "normal"
        return None if level == self.level else self._set(now, level, dd, equity)

    def rearm(self, equity: float, now: datetime, how: str) -> GovernorEvent:
        """The operator's decision: clear the trip and re-base the peak to `equity`."""
        event = GovernorEvent(now, "rearm", self.drawdown(equity), equity, self.peak or equity, how)
        self.tripped_at, self.peak, self.level = None, equity, "normal"
        self.history.append(event)
        return event

    def _set(self, now: datetime, level: str, dd: float, equity: float) -> str:
        self.level = level
        self.history.append(GovernorEvent(now, level, dd, equity, self.peak or equity))
        return level

    @property
    def scale(self) -> float:
        """Multiplier for size and leverage at the current level (0 while tripped)."""
        return {"normal": 1.0, "soft": self.soft_scale, "hard": 0.0}[self.level]

    def restore(self, peak: float | None, tripped_at: datetime | None,
                rearm_token: str | None) -> None:  # fmt: skip
        """Take back the persisted state after a restart (the level follows on `update`)."""
        self.peak, self.tripped_at, self.rearm_token = peak, tripped_at, rearm_token
        self.level = "hard" if tripped_at is not None else "normal"
