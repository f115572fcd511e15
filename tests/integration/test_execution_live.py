"""The order policy through the local exchange's matching engine (issue 17): the real
`freqtrade trade` with `dry_run: false` against the venue, on the simulated clock.

1. A continuation entry (taker) too large for the book is split into TWAP children; every child
   fills on the venue, the trade's average price lands within the model's band around the
   decision price, and the venue holds one reduce-only stop for the whole position.
2. A patient entry (maker) rests (the probe rests it 1% below the touch so that it cannot fill
   first); unfilled after `rest_candles` it follows its policy (`on_timeout: cross`): replaced
   by a marketable order that fills.
3. A take profit on a position too large for the book is worked in children (partial exits a
   TWAP interval apart, the last one a full exit), and no stop or position is left behind.
"""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from tests.conftest import REPO
from tests.integration.ft import wait
from tests.integration.live_rig import PAIR, LiveRig

pytestmark = pytest.mark.integration

ORIGIN = pd.Timestamp("2026-06-12 14:00", tz="UTC")  # inside the 75-day demo market
PROBE = """
from freqtrade.strategy import IStrategy

from perpflow.config import load_perpflow_config
from perpflow.risk.entry import entry_risk
from perpflow.strategy.execution import ExecutionMixin, add_model_inputs, check_execution
from perpflow.strategy.risk_callbacks import RiskCallbacksMixin
from perpflow.strategy.risk_guard import RiskGuardMixin


class TakeProfitNow:
    # a trade tagged `tp_probe` reaches its take profit at once (the policy then works it)

    def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        if trade.enter_tag == "tp_probe":
            return "take_profit_r"
        return super().custom_exit(pair, trade, current_time, current_rate, current_profit,
                                   **kwargs)


class ExecProbe(ExecutionMixin, TakeProfitNow, RiskGuardMixin, RiskCallbacksMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = True
    stoploss = -0.2
    use_custom_stoploss = True
    minimal_roi = {"0": 100}
    startup_candle_count = 400

    def __init__(self, config):
        super().__init__(config)
        self.pf = load_perpflow_config(config)

    def bot_start(self, **kwargs):
        check_execution(self)

    def _entry_risk(self, pair, side, rate, tag):
        # no signal row: the fallback stop 1.5 x an ATR of 1% of the price
        return entry_risk({"atr": 0.01 * rate}, self.pf.risk, side=side, rate=rate, tag=tag)

    def populate_indicators(self, dataframe, metadata):
        return add_model_inputs(dataframe, self.timeframe)

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe

    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage,
                 entry_tag, side, **kwargs):
        return 2.0

    def _touch(self, ref, book, cost):
        # a maker rests 1% away from the touch, so it cannot fill before its timeout
        bid, ask = super()._touch(ref, book, cost)
        return bid * 0.99, ask * 1.01
"""
PERPFLOW = {
    "risk": {"governor": {"enabled": False}, "carry": {"enabled": False},
             "entry_guard": {"book_check": False}},
    "filters": {"sessions": {"enabled": False}},
    # any parent splits (the venue's book is deep): three children 30 s apart
    "execution": {"enabled": True, "rest_candles": 1, "on_timeout": "cross",
                  "children": {"max_depth_share": 0.0001, "max_children": 3,
                               "window_minutes": 1.5}},
}  # fmt: skip


def _custom(db, trade_id: int) -> dict:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT cd_key, cd_value FROM trade_custom_data WHERE ft_trade_id = ?",
                           (trade_id,)).fetchall()  # fmt: skip
    return {k: json.loads(v) if v and v[0] in '[{"0123456789-' else v for k, v in rows}


def _analysed(rig: LiveRig) -> bool:
    """True once the bot's analysed candles carry the slippage model's inputs."""
    got = rig.get(f"pair_candles?pair={PAIR}&timeframe=1m&limit=2")
    cols = got.get("columns", [])
    if "ex_sigma_bps_1s" not in cols or not got.get("data"):
        return False
    return got["data"][-1][cols.index("ex_sigma_bps_1s")] is not None


def _entries(trade: dict) -> list[dict]:
    side = "sell" if trade["is_short"] else "buy"
    return [o for o in trade["orders"] if o["ft_order_side"] == side]


def test_children_fill_within_band_and_maker_times_out_to_cross(demo_datadir, tmp_path):
    rig = LiveRig(demo_datadir, tmp_path, ORIGIN)
    rig.start_venue()
    try:
        rig.start_bot(PERPFLOW, probe=PROBE, strategy="ExecProbe",
                      configs=(REPO / "config.execution.json",))  # fmt: skip
        wait(lambda: rig.get("balance").get("total", 0) > 9000, 120, "the bot on the venue")
        wait(lambda: _analysed(rig), 120, "the first analysed candle (the model's inputs)")
        _taker_children(rig)
        _maker_timeout(rig)
        _take_profit_children(rig)
    except BaseException as exc:
        raise AssertionError(f"{exc}\n--- bot log tail:\n{rig.log_text()[-8000:]}") from exc
    finally:
        code = rig.stop_bot()
        rig.venue.stop()
    assert code in (0, 130), rig.log_text()[-3000:]


def _taker_children(rig: LiveRig) -> None:
    r = rig.api("POST", "forceenter", json={"pair": PAIR, "side": "long", "ordertype": "limit",
                                            "entry_tag": "breakout"})  # fmt: skip
    assert r.status_code == 200, r.text
    tid = r.json()["trade_id"]
    trade = wait(lambda: next((t for t in rig.get("status") if t["trade_id"] == tid
                               and sum(o["status"] == "closed" for o in _entries(t)) >= 3), None),
                 240, "three filled TWAP children")  # fmt: skip
    plan = _custom(rig.db, tid)
    assert plan["pf_style"] == "taker" and plan["pf_children"] == 3
    assert plan["pf_child_mode"] == "twap", plan
    filled = [o for o in _entries(trade) if o["status"] == "closed"]
    assert len(filled) == 3 and len(_entries(trade)) == 3, _entries(trade)
    assert {o["ft_order_tag"] for o in filled[1:]} == {"child 2/3", "child 3/3"}
    times = sorted(pd.Timestamp(o["order_filled_timestamp"], unit="ms") for o in filled)
    assert times[2] - times[0] >= pd.Timedelta(seconds=50), "children spread over the window"
    # the parent's average within the model's band around the decision price
    shortfall = (trade["open_rate"] / plan["pf_decision_price"] - 1) * 1e4
    lo, hi = plan["pf_model_band_lo"], plan["pf_model_band_hi"]
    assert lo - 1e-6 <= shortfall <= hi + 1e-6, (
        shortfall,
        plan,
        [(o["safe_price"], o["filled"], o["order_filled_timestamp"]) for o in filled],
    )

    # one reduce-only stop on the venue for the whole position
    def stops():
        return rig.ledger(lambda led: [(a.qty, a.side) for a in led.algos.values()
                                       if a.account == rig.key and a.is_open])  # fmt: skip

    # Freqtrade re-places the exchange stop after each fill: one stop, for the whole position
    wait(lambda: stops() == [(pytest.approx(rig.position()), "SELL")], 60,
         "a single exchange stop for the whole position")  # fmt: skip
    r = rig.api("POST", "forceexit", json={"tradeid": str(tid), "ordertype": "market"})
    assert r.status_code == 200, r.text
    wait(lambda: rig.position() == 0.0 and not rig.get("status"), 90, "the exit")


def _maker_timeout(rig: LiveRig) -> None:
    r = rig.api("POST", "forceenter", json={"pair": PAIR, "side": "long", "ordertype": "limit",
                                            "entry_tag": "sweep_low"})  # fmt: skip
    assert r.status_code == 200, r.text
    tid = r.json()["trade_id"]
    trade = wait(lambda: next((t for t in rig.get("status") if t["trade_id"] == tid
                               and any(o["status"] == "closed" for o in _entries(t))), None),
                 240, "the maker entry to time out and cross")  # fmt: skip
    plan = wait(lambda: _custom(rig.db, tid).get("pf_style") and _custom(rig.db, tid), 30,
                "the plan on the trade")  # fmt: skip
    assert plan["pf_style"] == "maker", plan
    (filled,) = [o for o in _entries(trade) if o["status"] == "closed"]
    # on the venue: the resting bid (below the decision mid) was cancelled at the next candle
    # and replaced by a marketable order that filled above it
    sym = PAIR.split("/")[0] + "USDT"
    since = filled["order_timestamp"] - 10 * 60_000
    orders = rig.ledger(lambda led: [(o.time, o.price, o.status, o.type) for o in led.orders.values()
                                     if o.account == rig.key and o.symbol == sym
                                     and o.side == "BUY" and o.time >= since])  # fmt: skip
    orders.sort()  # (the next iceberg slice may already rest after the crossed fill)
    rested = [o for o in orders if o[2] == "CANCELED"][-1]
    crossed = next(o for o in orders if o[0] > rested[0] and o[2] == "FILLED")
    assert rested[2] == "CANCELED" and rested[1] < plan["pf_decision_price"], orders
    assert crossed[2] == "FILLED" and crossed[1] > rested[1], orders
    assert (crossed[0] - rested[0]) / 1000 >= 30, orders  # not before the next 1m candle
    assert "replacing" in rig.log_text().lower()


def _take_profit_children(rig: LiveRig) -> None:
    def flat() -> bool:  # the maker's trade (and a resting iceberg slice) out of the way
        for t in rig.get("status"):
            rig.api("POST", "forceexit", json={"tradeid": str(t["trade_id"]),
                                               "ordertype": "market"})  # fmt: skip
        return rig.position() == 0.0 and not rig.get("status")

    wait(flat, 120, "a flat account", every=2.0)
    r = rig.api("POST", "forceenter", json={"pair": PAIR, "side": "long", "ordertype": "limit",
                                            "entry_tag": "tp_probe"})  # fmt: skip
    assert r.status_code == 200, r.text
    tid = r.json()["trade_id"]
    trade = wait(lambda: next((t for t in rig.get("trades?limit=50")["trades"]
                               if t["trade_id"] == tid and not t["is_open"]), None),
                 300, "the take profit worked to a close")  # fmt: skip
    exits = [o for o in trade["orders"] if o["ft_order_side"] == "sell" and o["status"] == "closed"]
    tags = [o["ft_order_tag"] for o in exits]
    assert len(exits) >= 2 and tags[-1] == "take_profit_r", tags
    assert all(t == "take_profit_r child" for t in tags[:-1]), tags
    times = [o["order_filled_timestamp"] / 1000 for o in exits]
    assert all(b - a >= 25 for a, b in zip(times[:-1], times[1:], strict=True)), times
    bought = sum(o["filled"] for o in trade["orders"] if o["ft_order_side"] == "buy")
    assert sum(o["filled"] for o in exits) == pytest.approx(bought)
    wait(lambda: rig.position() == 0.0, 60, "no position left")
    left = rig.ledger(lambda led: [a.id for a in led.algos.values()
                                   if a.account == rig.key and a.is_open])  # fmt: skip
    assert left == [], "a stop left behind after the take profit"
