"""Drawdown governor: equity (with open profit) against its peaks, in three levels.

normal -> soft (drawdown >= `soft`): size and leverage x `soft_scale`; back to normal only once
          the drawdown is below `soft` x `recover` (hysteresis: no flapping at the line);
       -> hard (drawdown >= `hard`): no entries until `pause` has passed. Then the window peak is
          re-based to the equity at resumption (so the same loss does not re-pause at once), but
          the account stays at the soft level until it is back within `soft` x `recover` of its
          all-time high: after a pause the bot trades small until it has recovered.
Written by hand: a few lines of state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

LOCK_REASON = "perpflow drawdown governor"  # the global lock a hard-limit pause sets


@dataclass
class DrawdownGovernor:
    soft: float = 0.08
    hard: float = 0.10
    soft_scale: float = 0.5
    pause: timedelta = timedelta(hours=24)
    recover: float = 0.5
    peak: float | None = None  # window peak (re-based after a pause)
    high: float | None = None  # all-time high-water mark
    level: str = "normal"
    paused_until: datetime | None = None
    history: list[tuple[datetime, str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.soft < self.hard < 1:
            raise ValueError(f"need 0 < soft ({self.soft}) < hard ({self.hard}) < 1")

    def drawdown(self, equity: float) -> float:
        """Drawdown from the window peak (what the hard limit reads)."""
        return 0.0 if not self.peak else max(0.0, 1.0 - equity / self.peak)

    def underwater(self, equity: float) -> float:
        """Drawdown from the all-time high."""
        return 0.0 if not self.high else max(0.0, 1.0 - equity / self.high)

    def update(self, equity: float, now: datetime) -> str | None:
        """Feed the current equity; returns the new level when it changed, else None."""
        if not equity > 0:
            return None
        if self.paused_until is not None:
            if now < self.paused_until:
                return None
            self.paused_until, self.peak = None, equity  # resume: re-base the window
        self.peak = equity if self.peak is None else max(self.peak, equity)
        self.high = equity if self.high is None else max(self.high, equity)
        dd, under = self.drawdown(equity), self.underwater(equity)
        if dd >= self.hard:
            level = "hard"
        elif dd >= self.soft or under >= self.soft:
            level = "soft"
        elif self.level in ("soft", "hard") and max(dd, under) >= self.soft * self.recover:
            level = "soft"  # not recovered enough yet
        else:
            level = "normal"
        if level == "hard":
            self.paused_until = now + self.pause
        if level == self.level:
            return None
        self.level = level
        self.history.append((now, level, dd))
        return level

    @property
    def scale(self) -> float:
        """Multiplier for size and leverage at the current level (0 while paused)."""
        return {"normal": 1.0, "soft": self.soft_scale, "hard": 0.0}[self.level]
