"""Fault drills: faults the venue injects on request, switchable at run time (the loopback-only
`POST /perpflow/drills` JSON endpoint, or `Drills.set(...)` from Python).

Each fault leaves the ledger consistent and says which way it went: latency, rate limits (429
or 418 with Retry-After, code -1003), injected errors (-1001, -1021, HTTP 500/503) and rejects
(-2019, -4131) answer before anything is applied; a lost answer (-1007, "execution status
unknown") is sent after the request was applied and committed; partial fills let only a share of
a taker order find liquidity (the rest expires, or rests for a GTC limit); `drop_user_streams`
closes every user-data socket once. Random faults draw from a seeded generator (deterministic
in tests); `*_count` limits a fault to the next N matching requests.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from perpflow.venue.errors import BinanceError

ERRORS = {
    "-1001": (-1001, "Internal error; unable to process your request. Please try again.", 400),
    "-1021": (-1021, "Timestamp for this request is outside of the recvWindow.", 400),
    "500": (-1000, "An unknown error occurred while processing the request. Not applied "
                   "(perpflow drill).", 500),
    "503": (-1000, "Service Unavailable. Not applied (perpflow drill).", 503),
}  # fmt: skip


@dataclass
class DrillConfig:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    error: str = "-1001"  # one of ERRORS
    error_count: int | None = None
    rate_limit_rate: float = 0.0
    rate_limit_status: int = 429  # or 418
    rate_limit_count: int | None = None
    retry_after_s: int = 1
    reject_rate: float = 0.0
    reject_code: int = -2019  # or -4131
    reject_count: int | None = None
    lost_answer_rate: float = 0.0
    lost_answer_count: int | None = None
    partial_fill: float = 1.0
    paths: list[str] = field(default_factory=lambda: ["/fapi/", "/futures/"])
    seed: int = 0


class Drills:
    def __init__(self, config: DrillConfig | None = None):
        self.config = config or DrillConfig()
        self.rng = random.Random(self.config.seed)
        self.fired: dict[str, int] = {}

    def set(self, **changes) -> DrillConfig:
        """Change some settings (unknown names raise ValueError); `reset=True` starts over."""
        if changes.pop("reset", False):
            self.config = DrillConfig()
        names = {f.name for f in dataclasses.fields(DrillConfig)}
        bad = set(changes) - names - {"drop_user_streams"}
        if bad:
            raise ValueError(f"unknown drill settings {sorted(bad)}; known: {sorted(names)}")
        changes.pop("drop_user_streams", None)
        self.config = dataclasses.replace(self.config, **changes)
        if "seed" in changes:
            self.rng = random.Random(self.config.seed)
        if self.config.error not in ERRORS:
            raise ValueError(f"error must be one of {sorted(ERRORS)}")
        return self.config

    def applies(self, path: str) -> bool:
        return path.startswith(tuple(self.config.paths))

    def _hit(self, name: str) -> bool:
        c = self.config
        rate, count = getattr(c, f"{name}_rate"), getattr(c, f"{name}_count")
        if rate <= 0 or count == 0 or self.rng.random() >= rate:
            return False
        if count is not None:
            setattr(self.config, f"{name}_count", count - 1)
        self.fired[name] = self.fired.get(name, 0) + 1
        return True

    def before(self, path: str) -> tuple[BinanceError, dict] | None:
        """A fault to answer instead of handling the request (nothing applied), or None."""
        if not self.applies(path):
            return None
        c = self.config
        if self._hit("rate_limit"):
            msg = ("Way too many requests; IP banned (perpflow drill)." if c.rate_limit_status == 418
                   else "Too many requests; current limit is 2400 requests per minute (perpflow drill).")  # fmt: skip
            return BinanceError(-1003, msg, c.rate_limit_status), {
                "Retry-After": str(c.retry_after_s)
            }
        if self._hit("error"):
            code, msg, status = ERRORS[c.error]
            return BinanceError(code, msg, status), {}
        return None

    def reject_code(self) -> int | None:
        return self.config.reject_code if self._hit("reject") else None

    def lose_answer(self, path: str) -> bool:
        return self.applies(path) and self._hit("lost_answer")


def lost_answer() -> BinanceError:
    return BinanceError(-1007, "Timeout waiting for response from backend server. Send status "
                               "unknown; execution status unknown.", 408)  # fmt: skip
