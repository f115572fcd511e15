"""The exchange watch inside the bot: the health pause (dry-run and live), orphan positions
(live), and exchange rejects seen in Freqtrade's log.

Health: one ticker probe per loop through Freqtrade's exchange with its retries off (one probe
is one request; `dp.ticker` would retry four times and hide the failure as `{}`), fed to
`perpflow.risk.monitor.ExchangeHealth`. A trip sets the global lock "perpflow exchange health:
<why>" (renewed while the fault lasts) and alerts; the lift removes that lock at once and
alerts. A rate limit's Retry-After is honoured: no probe before it has passed.

Orphans: at most every `orphan_check_seconds` (at once after an answer was lost), the
exchange's positions against the open trades (`perpflow.risk.positions`). A position the bot
does not know, seen twice, locks its pair ("perpflow orphan position: ...") and alerts; new
entries on it are refused (also forced ones) until it is closed on the exchange, then the lock
goes and an alert says so. Never opens, closes or adopts a position itself.

Mixed into `RiskGuardMixin`; reads `self.pf`, `self.dp`, `self.config`; `_alert` from there.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from freqtrade.enums import RunMode
from freqtrade.persistence import Order, PairLocks, Trade
from freqtrade.persistence.pairlock import PairLock
from sqlalchemy import select

from perpflow.risk.monitor import ExchangeHealth
from perpflow.risk.positions import (
    EXCESS,
    GHOST,
    ORDER,
    ORPHAN,
    BotTrade,
    PositionGap,
    position_gaps,
)  # fmt: skip
from perpflow.risk.venue_errors import REJECT, UNKNOWN, classify
from perpflow.strategy.failclosed import log_limited
from perpflow.strategy.reject_watch import RejectWatch

logger = logging.getLogger(__name__)
HEALTH_LOCK = "perpflow exchange health"
ORPHAN_LOCK = "perpflow orphan position"
CONFIRM_GAP = timedelta(seconds=5)  # an orphan seen twice this far apart (fills in flight)
_clock = time.perf_counter  # probe latency: real elapsed time, whatever clock the bot runs on


def perpflow_locks(prefix: str, pair: str, now: datetime) -> list:
    """Active locks of `pair` ("*": global) whose reason starts with `prefix`."""
    return [lk for lk in PairLocks.get_pair_locks(pair, now)
            if lk.pair == pair and (lk.reason or "").startswith(prefix)]  # fmt: skip


def release_locks(prefix: str, pair: str, now: datetime) -> int:
    """Deactivate those locks (nothing else of the pair); returns how many."""
    locks = perpflow_locks(prefix, pair, now)
    for lk in locks:
        lk.active = False
    if locks and PairLocks.use_db:
        PairLock.session.commit()
    return len(locks)


class ExchangeWatchMixin:
    """`_check_health`, `_check_positions`, `_check_rejects` (from `bot_loop_start`) and
    `watch_refusal` (from `entry_refusal`)."""

    def _exchange(self):
        return getattr(self.dp, "_exchange", None) if self.dp is not None else None

    # --- health ----------------------------------------------------------------------------
    def _health(self, now: datetime) -> ExchangeHealth:
        health = getattr(self, "_pf_health", None)
        if health is None:
            g = self.pf.risk.entry_guard
            health = self._pf_health = ExchangeHealth(recover_probes=g.health_recover_probes)
            stale = perpflow_locks(HEALTH_LOCK, "*", now)
            if stale:  # paused before a restart: lift only once healthy again
                health.reason, health.since = stale[0].reason, now.timestamp()
        return health

    def _probe(self, pair: str):
        """(latency in seconds or None, classified fault or None) of one ticker request."""
        exchange = self._exchange()
        t0 = _clock()
        try:
            exchange.fetch_ticker(pair, count=0)  # Freqtrade's retrier: no retries
            return _clock() - t0, None
        except Exception as exc:  # noqa: BLE001 (every failure is a sample)
            headers = getattr(getattr(exchange, "_api", None), "last_response_headers", None)
            return None, classify(exc, headers)

    def _check_health(self, now: datetime) -> None:
        pairs = self.dp.current_whitelist() if self.dp else []
        if not pairs or self._exchange() is None:
            return
        health, ts = self._health(now), now.timestamp()
        change = None
        if health.may_probe(ts):
            seconds, fault = self._probe(pairs[0])
            change = health.record(seconds, fault=fault, now=ts)
        minutes = self.pf.risk.entry_guard.health_pause_minutes
        if change == "lift":
            release_locks(HEALTH_LOCK, "*", now)
            self._alert("exchange healthy again: health pause lifted, entries resume")
        elif health.reason and not perpflow_locks(HEALTH_LOCK, "*", now):
            until = now + timedelta(minutes=minutes)
            PairLocks.lock_pair("*", until, f"{HEALTH_LOCK}: {health.reason}", now=now)
            if change == "trip":
                self._alert(f"{health.reason}: entries paused until the exchange is healthy "
                            f"again ({health.recover_probes} good probes in a row)")  # fmt: skip
            else:
                logger.info("exchange still unhealthy (%s): health lock renewed", health.reason)

    # --- orphan positions ------------------------------------------------------------------
    def _check_positions(self, now: datetime, *, force: bool = False) -> None:
        """Live only: the exchange's positions against the open trades (see module doc)."""
        if self.config.get("runmode") != RunMode.LIVE or self._exchange() is None:
            return
        seen = self._pf_gap_seen = getattr(self, "_pf_gap_seen", {})
        last = getattr(self, "_pf_pos_last", None)
        every = timedelta(seconds=self.pf.risk.entry_guard.orphan_check_seconds)
        known = getattr(self, "_pf_orphans", {})
        pending = any(kind != GHOST and pair not in known for pair, kind in seen)
        if not (force or pending or last is None or now - last >= every):
            return
        try:
            positions = self._exchange().fetch_positions()
        except Exception as exc:  # noqa: BLE001 (unknown: keep what we have, try next loop)
            log_limited(logger, "*", "positions", now, f"positions unavailable ({exc})",
                        every=timedelta(minutes=10))  # fmt: skip
            return
        self._pf_pos_last = now
        trades = [BotTrade(t.pair, "short" if t.is_short else "long", float(t.amount or 0.0),
                           bool(t.has_open_orders)) for t in Trade.get_open_trades()]  # fmt: skip
        gaps = position_gaps(positions, trades) + self._unknown_orders(positions)
        self._pf_gap_seen = {(g.pair, g.kind): seen.get((g.pair, g.kind), (now, g)) for g in gaps}
        confirmed = [g for g in gaps if self._confirmed(g, now, every)]
        self._apply_gaps(confirmed, now)

    def _unknown_orders(self, positions: list[dict]) -> list[PositionGap]:
        """Open orders and stops on the exchange that the bot never stored (an answer lost
        after the exchange applied it: Freqtrade places the stop again), as "orphan" gaps of
        kind "order" on the pairs of the whitelist and of held positions."""
        api = getattr(self._exchange(), "_api", None)
        pairs = set(self.dp.current_whitelist()) | {p["symbol"] for p in positions
                                                    if p.get("contracts")}  # fmt: skip
        out = []
        for pair in sorted(pairs):
            try:
                live = api.fetch_open_orders(pair) + api.fetch_open_orders(
                    pair, params={"trigger": True}
                )
            except Exception:  # noqa: BLE001 (unknown: judged at the next check)
                continue
            known = set(Order.session.scalars(select(Order.order_id).filter(Order.ft_pair == pair)))
            for o in live:
                if str(o["id"]) not in known:
                    what = "stop" if o.get("reduceOnly") or o.get("triggerPrice") else "order"
                    out.append(PositionGap(pair, ORDER, o.get("side"), float(o.get("amount") or 0.0),
                                           0.0, f"open {what} {o['id']}"))  # fmt: skip
        return out

    def _confirmed(self, gap: PositionGap, now: datetime, every: timedelta) -> bool:
        first, _ = self._pf_gap_seen[(gap.pair, gap.kind)]
        if gap.kind == GHOST:  # a fired stop is polled by Freqtrade within its interval
            sl = float(self.config.get("order_types", {}).get("stoploss_on_exchange_interval", 60))
            return now - first >= max(2 * every, timedelta(seconds=2 * sl))
        return now - first >= CONFIRM_GAP

    def _apply_gaps(self, confirmed: list[PositionGap], now: datetime) -> None:
        orphans = getattr(self, "_pf_orphans", {})
        blocking = {g.pair: g for g in confirmed if g.kind in (ORPHAN, EXCESS, ORDER)}
        for pair, gap in blocking.items():
            if not perpflow_locks(ORPHAN_LOCK, pair, now):
                PairLocks.lock_pair(pair, now + timedelta(days=1),
                                    f"{ORPHAN_LOCK}: {gap.describe()}", now=now)  # fmt: skip
            if pair not in orphans:
                what = "unknown order" if gap.kind == ORDER else f"{gap.kind} position"
                self._alert(f"{what}: {gap.describe()}; no new entry on {pair} "
                            "until it is closed on the exchange (the bot never trades on top "
                            "of it)")  # fmt: skip
        for lock in [lk for lk in PairLocks.get_pair_locks(None, now)
                     if (lk.reason or "").startswith(ORPHAN_LOCK)]:  # fmt: skip
            if lock.pair not in blocking:
                release_locks(ORPHAN_LOCK, lock.pair, now)
                self._alert(f"{lock.pair}: orphan resolved, the pair may trade again")
        ghosts = getattr(self, "_pf_ghosts", set())
        for g in confirmed:
            if g.kind == GHOST and g.pair not in ghosts:
                self._alert(f"ghost trade: {g.describe()}; if the exchange closed it, "
                            "reload the trade from the exchange (Telegram /reload_trade, REST "
                            "POST /api/v1/trades/<id>/reload)")  # fmt: skip
        self._pf_ghosts = {g.pair for g in confirmed if g.kind == GHOST}
        self._pf_orphans = blocking

    # --- rejects and lost answers ----------------------------------------------------------
    def _check_rejects(self, now: datetime) -> bool:
        """Alert each exchange reject Freqtrade logged since the last loop (no pause: a reject
        is no exchange fault); returns True when an answer was lost (check positions now)."""
        watch = getattr(self, "_pf_rejects", None)
        if watch is None and self._exchange() is None:
            return False
        if watch is None:
            watch = self._pf_rejects = RejectWatch.attach()
        lost = False
        for pair, fault in watch.drain():
            where = pair or "an order"
            if fault.kind == REJECT:
                self._alert(f"{where}: order rejected by the exchange ({fault.reason}); not an "
                            "exchange fault, entries continue")  # fmt: skip
            elif fault.kind == UNKNOWN:
                lost = True
                self._alert(f"{where}: order answer lost ({fault.reason}); checking the "
                            "exchange's positions now")  # fmt: skip
        return lost

    def watch_refusal(self, pair: str, now: datetime) -> str | None:
        """Why the exchange watch refuses an entry on `pair` now (forced ones too), or None."""
        locks = perpflow_locks(ORPHAN_LOCK, pair, now)
        gap = getattr(self, "_pf_orphans", {}).get(pair)
        if gap is not None or locks:
            what = gap.describe() if gap is not None else locks[0].reason
            return f"orphan: {what}; no new position on top until it is resolved"
        health = getattr(self, "_pf_health", None)
        if health is not None and health.reason:
            return f"exchange health: {health.reason}"
        return None
