"""Fault drills against the live bot (issue 14, part 4): the real `freqtrade trade` with
`dry_run: false`, on a simulated clock with skip-idle shared with the venue, its API server on.

Each health drill (latency, -1001, 503, 429 with Retry-After) must trip perpflow's pause (the
global lock "perpflow exchange health: ..." over REST `/api/v1/locks`, and the alert in the log)
and lift it once the drill is off. Rejects (-2019, -4131) must not pause and leave no trade. A
lost answer (-1007) on an entry leaves a position the bot does not know: perpflow must lock its
pair (forced entries refused too) until an operator closes it. A venue restart while a trade
and its exchange stop are open must trip and lift the pause and keep both. Afterwards the bot's
database equals the venue's ledger, the venue holds no order the bot did not place or knows of
except the lost one and the operator's close, and no position is left.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from perpflow.strategy.exchange_watch import HEALTH_LOCK, ORPHAN_LOCK
from tests.integration.ft import wait
from tests.integration.live_rig import PAIR, LiveRig

pytestmark = pytest.mark.integration

ORIGIN = pd.Timestamp("2026-06-10 10:00", tz="UTC")  # inside the 75-day demo market
PERPFLOW = {  # the probe has no columns for the signal gates: only the exchange watch counts
    "risk": {"governor": {"enabled": False}, "carry": {"enabled": False},
             "entry_guard": {"book_check": False}},
    "filters": {"sessions": {"enabled": False}},
}  # fmt: skip
HEALTH_DRILLS = {
    "latency 2.5 s": {"latency_ms": 2500},
    "error -1001": {"error_rate": 1.0, "error": "-1001"},
    "error 503": {"error_rate": 1.0, "error": "503"},
    "rate limit 429": {"rate_limit_rate": 1.0, "rate_limit_status": 429, "retry_after_s": 30},
}


class Stopwatch:
    """Real and simulated seconds since `start()`."""

    def __init__(self, clock):
        self.clock = clock

    def start(self) -> None:
        self.real, self.sim = time.monotonic(), self.clock.time()

    def lap(self) -> dict:
        return {"real_s": round(time.monotonic() - self.real, 2),
                "sim_s": round(self.clock.time() - self.sim, 1)}  # fmt: skip


def test_fault_drills_trip_and_lift_with_no_lost_or_duplicate_order(demo_datadir, tmp_path):
    rig = LiveRig(demo_datadir, tmp_path, ORIGIN)
    rig.start_venue()
    figures: dict = {}
    try:
        rig.start_bot(PERPFLOW)
        wait(lambda: rig.get("balance").get("total", 0) > 9000, 120, "the bot on the venue")
        watch = Stopwatch(rig.clock)
        figures["health"] = {name: _health_drill(rig, watch, drill)
                             for name, drill in HEALTH_DRILLS.items()}  # fmt: skip
        figures["rejects"] = {code: _reject(rig, code) for code in (-2019, -4131)}
        figures["lost_answer"] = _lost_answer(rig, watch)
        figures["restart"] = _restart_mid_trade(rig, watch)
    except BaseException as exc:
        raise AssertionError(f"{exc}\n--- bot log tail:\n{rig.log_text()[-8000:]}") from exc
    finally:
        code = rig.stop_bot()
    figures["orders"] = _after(rig)
    rig.venue.stop()
    (tmp_path / "drills.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    assert code in (0, 130), rig.log_text()[-3000:]


def _health_drill(rig: LiveRig, watch: Stopwatch, drill: dict) -> dict:
    """Switch `drill` on, wait for the health lock; off, wait for it to go."""
    alerts = rig.log_text().count("entries paused until the exchange is healthy")
    lifts = rig.log_text().count("health pause lifted")
    watch.start()
    rig.drill(reset=True, **drill)
    (lock,) = wait(lambda: rig.locks(HEALTH_LOCK), 90, f"the health pause on {drill}")
    trip = watch.lap()
    watch.start()
    rig.drill(reset=True)
    wait(lambda: not rig.locks(HEALTH_LOCK), 90, f"the health pause to lift after {drill}")
    lift = watch.lap()
    wait(lambda: rig.log_text().count("health pause lifted") > lifts, 10, "the lift's alert")
    assert rig.log_text().count("entries paused until the exchange is healthy") > alerts
    return {"trip": trip, "lift": lift, "reason": lock["reason"]}


def _reject(rig: LiveRig, code: int) -> dict:
    """A rejected forced entry: no pause, no trade, no venue order, the reason in the log."""
    orders = rig.ledger(lambda led: len(led.orders))
    rig.drill(reset=True, reject_rate=1.0, reject_code=code, reject_count=1)
    r = rig.api("POST", "forceenter", json={"pair": PAIR, "side": "long"})
    assert r.status_code >= 400, r.text  # Freqtrade: TemporaryError out of execute_entry
    wait(lambda: f"order rejected by the exchange ({code}" in rig.log_text(), 30,
         f"perpflow's reject alert for {code}")  # fmt: skip
    assert rig.get("status") == [] and rig.position() == 0.0, "a half-made trade"
    assert rig.ledger(lambda led: len(led.orders)) == orders
    assert not rig.locks(HEALTH_LOCK), "a reject must not pause entries"
    return {"api_status": r.status_code, "trades": 0, "venue_orders_added": 0}


def _lost_answer(rig: LiveRig, watch: Stopwatch) -> dict:
    """-1007 after the venue filled a forced entry: an orphan position, locked until closed."""
    before = rig.ledger(lambda led: len(led.orders))
    rig.drill(reset=True, lost_answer_rate=1.0, lost_answer_count=1, paths=["/fapi/v1/order"])
    watch.start()
    r = rig.api("POST", "forceenter", json={"pair": PAIR, "side": "long"})
    assert r.status_code >= 400, r.text
    held = rig.position()
    assert held > 0 and rig.get("status") == [], "the venue filled it, the bot has no trade"
    (lock,) = wait(lambda: rig.locks(ORPHAN_LOCK, PAIR), 60, "the orphan lock")
    locked = watch.lap()
    assert f"long {held:g} on {PAIR}" in lock["reason"]
    r = rig.api("POST", "forceenter", json={"pair": PAIR, "side": "long"})
    assert r.status_code >= 400 and rig.position() == held, "a second position on top"
    assert "orphan" in rig.log_text().split("entry refused:")[-1].splitlines()[0]
    ex = rig.operator()
    ex.create_order(PAIR, "market", "sell", held, params={"reduceOnly": True})
    watch.start()
    wait(lambda: not rig.locks(ORPHAN_LOCK, PAIR), 60, "the orphan lock to go")
    return {
        "venue_orders": rig.ledger(lambda led: len(led.orders)) - before,
        "bot_trades": 0,
        "locked_after": locked,
        "released_after_close": watch.lap(),
    }


def _restart_mid_trade(rig: LiveRig, watch: Stopwatch) -> dict:
    """An entry whose stop's answer is lost, a venue restart, an exit whose answer is lost."""
    rig.drill(reset=True, lost_answer_rate=1.0, lost_answer_count=1, paths=["/fapi/v1/algoOrder"])
    r = rig.api("POST", "forceenter", json={"pair": PAIR, "side": "long"})
    assert r.status_code == 200, r.text

    def stopped():
        trades = rig.get("status")
        ok = trades and any(o["ft_order_side"] == "stoploss" and o["status"] == "open"
                            for o in trades[0]["orders"])  # fmt: skip
        return trades[0] if ok else None

    watch.start()
    trade = wait(stopped, 60, "the entry and its exchange stop")
    stop_id = next(o["order_id"] for o in trade["orders"] if o["ft_order_side"] == "stoploss")
    # Freqtrade placed the stop again: the first one (answer lost) is unknown to it
    (lock,) = wait(lambda: rig.locks(ORPHAN_LOCK, PAIR), 60, "the lock on the unknown stop")
    unknown = rig.ledger(lambda led: [a.id for a in led.algos.values() if a.is_open])
    assert len(unknown) == 2 and f"open stop {min(unknown)}" in lock["reason"], (unknown, lock)
    duplicate = {"venue_stops": len(unknown), "locked_after": watch.lap()}
    rig.operator().cancel_order(str(min(unknown)), PAIR, params={"trigger": True})
    wait(lambda: not rig.locks(ORPHAN_LOCK, PAIR), 60, "the stop lock to go")
    watch.start()
    rig.stop_venue()
    wait(lambda: rig.locks(HEALTH_LOCK), 60, "the health pause while the venue is down")
    down = watch.lap()
    rig.start_venue()
    watch.start()
    wait(lambda: not rig.locks(HEALTH_LOCK), 90, "the lift after the venue restart")
    lift = watch.lap()
    (after,) = rig.get("status")
    assert after["trade_id"] == trade["trade_id"]
    algo = rig.ledger(lambda led: led.algos[int(stop_id)])
    assert algo.status == "NEW" and rig.position() == pytest.approx(after["amount"])
    # the exit is applied, its answer lost: a ghost trade, which Freqtrade reloads from the venue
    rig.drill(reset=True, lost_answer_rate=1.0, lost_answer_count=1, paths=["/fapi/v1/order"])
    tid = trade["trade_id"]
    r = rig.api("POST", "forceexit", json={"tradeid": str(tid), "ordertype": "market"})
    assert r.status_code >= 400 and rig.position() == 0.0 and rig.get("status"), r.text
    watch.start()
    wait(lambda: "ghost trade" in rig.log_text(), 60, "perpflow's ghost-trade alert")
    ghost = watch.lap()
    assert rig.api("POST", f"trades/{tid}/reload").status_code == 200
    wait(lambda: rig.get("status") == [], 60, "the reloaded trade to close")
    return {"duplicate_stop": duplicate, "tripped_while_down": down, "lifted_after_restart": lift,
            "stop_kept": stop_id, "ghost_alert_after": ghost}  # fmt: skip


def _after(rig: LiveRig) -> dict:
    """Database against ledger, no duplicate venue order, no orphan."""
    import sqlite3

    from perpflow.validation.reconcile import reconcile

    result = reconcile(rig.db, rig.state, rig.key)
    assert result["failed"] == 0 and result["closed_trades"] == 1, result
    with sqlite3.connect(rig.db) as con:
        bot = {r[0]: r[1] for r in con.execute("SELECT order_id, ft_order_side FROM orders")}

    def venue(led):
        mine = [o for o in led.orders.values() if o.account == rig.key]
        algos = [a for a in led.algos.values() if a.account == rig.key]
        flat = all(not p.amt for (k, _), p in led.positions.items() if k == rig.key)
        return mine, algos, flat

    orders, algos, flat = rig.ledger(venue)
    cids = [o.client_id for o in orders] + [a.client_id for a in algos]
    assert len(cids) == len(set(cids)), "a client order id used twice"
    unknown = [o for o in orders if str(o.id) not in bot]
    # the lost entry (filled, answer lost) and the operator's close of it: nothing else
    assert [(o.side, o.status) for o in unknown] == [("BUY", "FILLED"), ("SELL", "FILLED")], unknown
    strays = [a for a in algos if str(a.id) not in bot]  # the stop whose answer was lost
    assert [(a.status, a.client_id != "") for a in strays] == [("CANCELED", True)], strays
    assert flat and not any(o.is_open for o in orders) and not any(a.is_open for a in algos)
    return {"venue_orders": len(orders), "venue_algos": len(algos),
            "bot_orders": len(bot), "unknown_to_bot": len(unknown) + len(strays),
            "reconcile_checks": result["checks"]}  # fmt: skip
