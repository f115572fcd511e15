"""Exchange health: latency and error-rate alarms, and the spread check against a pair's normal."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from statistics import median


@dataclass
class ExchangeHealth:
    """Rolling latency (seconds) and error samples; `alarm()` says why entries should pause."""

    window: int = 30
    latency_factor: float = 5.0
    latency_floor: float = 2.0
    max_error_rate: float = 0.5
    samples: deque = field(default_factory=lambda: deque(maxlen=30))

    def record(self, seconds: float | None) -> None:
        """One call's latency, or None for a failed call."""
        self.samples.append(seconds)

    def alarm(self) -> str | None:
        """A reason to pause entries, or None when the exchange looks healthy."""
        if len(self.samples) < 5:
            return None
        errors = sum(s is None for s in self.samples) / len(self.samples)
        if errors > self.max_error_rate:
            return f"exchange error rate {errors:.0%} over the last {len(self.samples)} calls"
        ok = [s for s in self.samples if s is not None]
        if len(ok) >= 5 and ok[-1] > max(self.latency_factor * median(ok[:-1]), self.latency_floor):
            return f"exchange latency {ok[-1]:.2f} s (normal {median(ok[:-1]):.2f} s)"
        return None


def spread_bps(bids: list, asks: list) -> float:
    """Top-of-book spread in basis points of the mid (NaN for an empty or crossed book)."""
    if not bids or not asks:
        return float("nan")
    bid, ask = float(bids[0][0]), float(asks[0][0])
    if not (0 < bid < ask):
        return float("nan")
    return (ask - bid) / ((ask + bid) / 2) * 1e4


def depth_within(levels: list, mid: float, bps: float) -> float:
    """Quote notional resting within `bps` of `mid` on one side of the book."""
    return sum(float(p) * float(q) for p, q, *_ in levels if abs(float(p) / mid - 1) * 1e4 <= bps)


def book_allows(bids: list, asks: list, history: list[float], *, notional: float,
                max_spread_ratio: float = 3.0, depth_bps: float = 10.0,
                min_depth_ratio: float = 2.0) -> tuple[bool, str]:  # fmt: skip
    """Entry check against the pair's normal: the spread must be within `max_spread_ratio` x its
    recent median (`history`, bps) and the book within `depth_bps` of the mid on each side must
    hold `min_depth_ratio` x the order notional. Returns (allowed, reason)."""
    s = spread_bps(bids, asks)
    if not math.isfinite(s):
        return False, "order book empty or crossed"
    if len(history) >= 10 and s > max_spread_ratio * median(history):
        return False, f"spread {s:.1f} bps > {max_spread_ratio:g} x normal {median(history):.1f} bps"
    mid = (float(bids[0][0]) + float(asks[0][0])) / 2
    thin = min(depth_within(bids, mid, depth_bps), depth_within(asks, mid, depth_bps))
    if thin < min_depth_ratio * notional:
        return False, (f"depth within {depth_bps:g} bps {thin:,.0f} < {min_depth_ratio:g} x "
                       f"order {notional:,.0f}")  # fmt: skip
    return True, f"spread {s:.1f} bps, depth {thin:,.0f}"
