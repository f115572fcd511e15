"""Exchange health: latency and error-rate alarms, and the spread check against a pair's normal."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from statistics import median


@dataclass
class ExchangeHealth:
    """Trip and lift of the exchange-health pause from one probe per bot loop.

    `record(seconds, fault=..., now=...)` takes one probe: its latency in seconds, or None when
    it failed (`fault`, a `perpflow.risk.venue_errors.ExchangeFault`, says how). It trips on
    - an error rate above `max_error_rate` over the last `window` probes (at least
      `min_probes` of them): -1001, 5xx, timeouts, refused connections;
    - `slow_probes` probes in a row slower than `latency_factor` x the healthy median (and
      `latency_floor` seconds);
    - any rate limit (HTTP 429/418, -1003), at once: no probe is sent before its Retry-After
      has passed (`may_probe`);
    and lifts after `recover_probes` healthy probes in a row (after any Retry-After). Rejected
    orders never reach it: they are no exchange fault. `record` returns "trip", "lift" or None.
    """

    window: int = 10
    min_probes: int = 5
    max_error_rate: float = 0.5
    latency_factor: float = 5.0
    latency_floor: float = 2.0
    slow_probes: int = 2
    recover_probes: int = 3
    samples: deque = field(default_factory=lambda: deque(maxlen=30))
    healthy_latency: deque = field(default_factory=lambda: deque(maxlen=30))
    reason: str | None = None
    since: float | None = None
    retry_at: float | None = None
    streak: int = 0

    def slow_limit(self) -> float:
        """Latency (s) above which a probe counts as slow."""
        if len(self.healthy_latency) < self.min_probes:
            return self.latency_floor
        return max(self.latency_factor * median(self.healthy_latency), self.latency_floor)

    def may_probe(self, now: float) -> bool:
        """False while a rate limit's Retry-After runs (honour it: do not call again)."""
        return self.retry_at is None or now >= self.retry_at

    def record(self, seconds: float | None, *, fault=None, now: float = 0.0) -> str | None:
        """One probe: latency in seconds, or None for a failure (`fault` says which)."""
        slow = seconds is not None and seconds > self.slow_limit()
        healthy = seconds is not None and not slow
        if fault is not None and fault.kind == "rate_limit":
            wait = fault.retry_after_s if fault.retry_after_s is not None else 0.0
            self.retry_at = max(self.retry_at or now, now + wait)
        if self.reason is not None:
            return self._recovering(healthy, now)
        self.samples.append(seconds)
        if healthy:
            self.healthy_latency.append(seconds)
        reason = self._trip_reason(fault)
        if reason is None:
            return None
        self.reason, self.since, self.streak = reason, now, 0
        return "trip"

    def _trip_reason(self, fault) -> str | None:
        if fault is not None and fault.kind == "rate_limit":
            after = f", Retry-After {fault.retry_after_s:g} s" if fault.retry_after_s else ""
            return f"exchange rate limit ({fault.reason}{after})"
        recent = list(self.samples)[-self.window :]
        if len(recent) >= self.min_probes:
            errors = sum(s is None for s in recent) / len(recent)
            if errors > self.max_error_rate:
                last = f"; last: {fault.reason}" if fault is not None else ""
                return f"exchange error rate {errors:.0%} over the last {len(recent)} calls{last}"
        tail = list(self.samples)[-self.slow_probes :]
        limit = self.slow_limit()
        if len(tail) == self.slow_probes and all(s is not None and s > limit for s in tail):
            normal = (f", normal {median(self.healthy_latency):.2f} s"
                      if len(self.healthy_latency) >= self.min_probes else "")  # fmt: skip
            return f"exchange latency {tail[-1]:.2f} s (limit {limit:.2f} s{normal})"
        return None

    def _recovering(self, healthy: bool, now: float) -> str | None:
        self.streak = self.streak + 1 if healthy and self.may_probe(now) else 0
        if self.streak < self.recover_probes:
            return None
        self.reason, self.since, self.retry_at, self.streak = None, None, None, 0
        self.samples.clear()  # the fault's errors must not re-trip the healthy exchange
        return "lift"

    def alarm(self) -> str | None:
        """Why entries are paused now, or None when the exchange is healthy."""
        return self.reason


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
        return (
            False,
            f"spread {s:.1f} bps > {max_spread_ratio:g} x normal {median(history):.1f} bps",
        )
    mid = (float(bids[0][0]) + float(asks[0][0])) / 2
    thin = min(depth_within(bids, mid, depth_bps), depth_within(asks, mid, depth_bps))
    if thin < min_depth_ratio * notional:
        return False, (f"depth within {depth_bps:g} bps {thin:,.0f} < {min_depth_ratio:g} x "
                       f"order {notional:,.0f}")  # fmt: skip
    return True, f"spread {s:.1f} bps, depth {thin:,.0f}"
