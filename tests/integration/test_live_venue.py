"""The live bot path: real `freqtrade trade` with `dry_run: false` against the venue's signed
private API and matching engine (replay mode), keys from FREQTRADE__EXCHANGE__KEY/SECRET.

The bot starts (position mode, multi-assets mode, leverage tiers, balance, positions all from
the venue), `forceenter` makes it open a real position with an exchange-side stop (the algo
order API), `forceexit` closes it; its database must match the venue's ledger (orders, fills,
fees) and its log must show no failed private call.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time

import pytest
import requests

from tests.conftest import REPO
from tests.integration.ft import FREQTRADE, assert_clean_log, interrupt_bot, write_json
from tests.integration.test_dry_run_replay import _free_port, _wait_for

pytestmark = pytest.mark.integration

USER, PASSWORD = "perpflow-test", "not-a-real-secret"
KEY, SECRET = "perpflow-live-test-key", "perpflow-live-test-secret"
PAIR = "BTC/USDT:USDT"
# A strategy with no signals of its own: the test drives entries and exits over the bot's API,
# so the live order path is exercised without depending on a strategy's entry gating.
PROBE = """
from freqtrade.strategy import IStrategy


class VenueProbe(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = True
    stoploss = -0.02
    minimal_roi = {"0": 100}
    startup_candle_count = 10

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe

    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage, entry_tag,
                 side, **kwargs):
        return 3.0
"""


def _bot_config(tmp_path, venue_url: str, port: int):
    from perpflow.venue.overlay import exchange_overlay

    overlay = write_json(tmp_path / "venue.json", exchange_overlay(venue_url))
    extra = write_json(tmp_path / "live.json", {
        "dry_run": False, "timeframe": "1m", "initial_state": "running", "strategy": "VenueProbe",
        "db_url": f"sqlite:///{tmp_path / 'live.sqlite'}", "force_entry_enable": True,
        "max_open_trades": 1, "stake_amount": 500, "internals": {"process_throttle_secs": 2},
        "exchange": {"pair_whitelist": [PAIR]},
        "order_types": {"entry": "limit", "exit": "limit", "emergency_exit": "market",
                        "force_entry": "market", "force_exit": "market", "stoploss": "market",
                        "stoploss_on_exchange": True, "stoploss_on_exchange_interval": 5},
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": port,
                       "verbosity": "error"},
    })  # fmt: skip
    return overlay, extra


def _api(port: int):
    base = f"http://127.0.0.1:{port}/api/v1"

    def call(method: str, path: str, **kw):
        r = requests.request(method, f"{base}/{path}", auth=(USER, PASSWORD), timeout=30, **kw)
        r.raise_for_status()
        return r.json()

    return call


def test_freqtrade_live_against_venue(demo_datadir, tmp_path):
    from perpflow.venue.server import VenueServer

    port = _free_port()
    state = tmp_path / "ledger.sqlite"
    with VenueServer(demo_datadir, mode="replay", port=0, api_keys={KEY: SECRET}, state=state) as v:
        overlay, extra = _bot_config(tmp_path, v.url, port)
        ud = tmp_path / "ud"
        ud.mkdir()
        strategies = tmp_path / "strategies"
        strategies.mkdir()
        (strategies / "venue_probe.py").write_text(PROBE)
        env = {**os.environ, "FREQTRADE__EXCHANGE__KEY": KEY, "FREQTRADE__EXCHANGE__SECRET": SECRET,
               "FREQTRADE__API_SERVER__USERNAME": USER, "FREQTRADE__API_SERVER__PASSWORD": PASSWORD,
               "FREQTRADE__API_SERVER__JWT_SECRET_KEY": "perpflow-test-jwt-secret-0123456789abcdef",
               "FREQTRADE__API_SERVER__WS_TOKEN": "perpflow-test-ws-token-0123456789abcdef"}  # fmt: skip
        log = tmp_path / "freqtrade.log"
        cmd = [FREQTRADE, "trade", "-c", str(REPO / "config.json"), "-c", str(overlay),
               "-c", str(extra), "--userdir", str(ud), "--strategy-path", str(strategies)]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        try:
            trade = _drive_bot(_api(port))
        except BaseException as exc:
            proc.kill()
            proc.wait(30)
            raise AssertionError(
                f"live bot check failed ({exc}); log tail:\n{log.read_text()[-6000:]}"
            ) from exc
        text, shutdown = interrupt_bot(proc, log)
        assert trade["close_rate"] > 0
        v.call(lambda: _check_ledger(tmp_path / "live.sqlite", v.gateway.ledger, KEY))
    assert_clean_log(
        text, shutdown, bad=("Traceback", "-5000", "-2015", "-1022", "-1021", " ERROR ")
    )


def _drive_bot(api) -> dict:
    _wait_for(lambda: api("GET", "ping").get("status") == "pong", 120, "API ping")
    cfg = api("GET", "show_config")
    assert cfg["dry_run"] is False and cfg["trading_mode"] == "futures"
    _wait_for(lambda: api("GET", "balance").get("total", 0) > 9000, 60, "the venue's balance")
    api("POST", "forceenter", json={"pair": PAIR, "side": "long"})

    def entered():
        for t in api("GET", "status"):
            sides = [o["ft_order_side"] for o in t["orders"]]
            if t["pair"] == PAIR and not t["has_open_orders"] and "stoploss" in sides:
                return t
        return None

    trade = _wait_for(entered, 90, "the entry to fill and the exchange stop to be placed")
    time.sleep(8)  # a few bot loops: stoploss-on-exchange checks, wallet refresh
    api("POST", "forceexit", json={"tradeid": str(trade["trade_id"]), "ordertype": "market"})

    def closed():
        return next((t for t in api("GET", "trades")["trades"]
                     if t["trade_id"] == trade["trade_id"] and not t["is_open"]), None)  # fmt: skip

    return _wait_for(closed, 90, "the forced exit to close the trade")


def _check_ledger(db, ledger, key: str) -> None:
    """The bot's database (orders, fees) against the venue's ledger."""
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT order_id, ft_order_side, status, filled, average FROM orders"
    ).fetchall()
    fee_open, fee_close, cost_open, cost_close, lev = con.execute(
        "SELECT fee_open, fee_close, fee_open_cost, fee_close_cost, leverage FROM trades"
    ).fetchone()
    con.close()
    orders = {str(o.id): o for o in ledger.orders.values() if o.account == key}
    algos = {str(a.id): a for a in ledger.algos.values() if a.account == key}
    assert {r[1] for r in rows} >= {"buy", "sell", "stoploss"}, rows
    for oid, side, status, filled, average in rows:
        if side == "stoploss":
            assert oid in algos and algos[oid].status == "CANCELED", (oid, algos.get(oid))
            assert status == "canceled"
            continue
        mine = orders[oid]
        assert mine.status == "FILLED" and status == "closed"
        assert filled == pytest.approx(mine.filled)
        assert average == pytest.approx(mine.cum_quote / mine.filled, rel=1e-9)
    by_side = {"buy": 0.0, "sell": 0.0}
    for t in ledger.trades:
        if t["account"] == key:
            by_side[t["side"].lower()] += t["commission"]
    assert fee_open == fee_close == pytest.approx(0.0005)  # the venue's taker rate, from fills
    assert cost_close == pytest.approx(by_side["sell"], abs=0.01)
    # Freqtrade recomputes the entry fee as rate x stake (margin), not x notional: lev x smaller
    assert cost_open * lev == pytest.approx(by_side["buy"], abs=0.01)
