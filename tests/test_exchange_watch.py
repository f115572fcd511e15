"""The exchange watch: health pause trip and lift (locks and alerts), orphan positions, rejects
from Freqtrade's log; and the classification of the venue's drill answers through real ccxt."""

from __future__ import annotations

import logging
from datetime import timedelta

import ccxt
import pytest
import requests
from freqtrade.enums import RunMode
from freqtrade.exceptions import DDosProtection, TemporaryError
from freqtrade.persistence import PairLocks

from perpflow.risk.monitor import ExchangeHealth
from perpflow.risk.positions import BotTrade, position_gaps
from perpflow.risk.venue_errors import FAULT, RATE_LIMIT, REJECT, UNKNOWN, ExchangeFault, classify
from perpflow.strategy import exchange_watch
from perpflow.strategy.exchange_watch import HEALTH_LOCK, ORPHAN_LOCK
from perpflow.strategy.reject_watch import RejectWatch
from tests.test_risk_guard import NOW, ROW, Strat
from tests.venue.private_env import PAIR, private_venue, write_market

BAD = TemporaryError("Could not load ticker due to OperationFailed. Message: binanceusdm "
                     '{"code":-1001,"msg":"Internal error; unable to process your request."}')  # fmt: skip
LIMITED = DDosProtection('binanceusdm 429 Too Many Requests {"code":-1003,"msg":"Too many"}')


class FakeExchange:
    """Freqtrade's exchange as the watch uses it: one ticker probe, positions, the ccxt client's
    last response headers. `latency` is what the next probe costs (fake clock)."""

    def __init__(self):
        self.fail: Exception | None = None
        self.latency, self.now, self.probes = 0.05, 0.0, 0
        self.positions: list[dict] = []
        self.position_calls = 0
        self.open_orders: list[dict] = []  # open orders and stops on the exchange
        self._api = type("Api", (), {"last_response_headers": {}})()
        self._api.fetch_open_orders = self._open  # fmt: skip

    def _open(self, pair, params=None):
        return [o for o in self.open_orders if bool(o.get("reduceOnly")) == bool(params)]

    def clock(self) -> float:
        return self.now

    def fetch_ticker(self, pair, count=None):
        assert count == 0, "the probe must not go through Freqtrade's retries"
        self.probes += 1
        self.now += self.latency
        if self.fail is not None:
            raise self.fail
        return {"last": 100.0}

    def fetch_positions(self):
        self.position_calls += 1
        return self.positions


@pytest.fixture
def live(monkeypatch):
    from freqtrade.persistence import Trade, init_db

    init_db("sqlite://")
    trades: list = []
    monkeypatch.setattr(Trade, "get_open_trades", staticmethod(lambda: trades))
    PairLocks.use_db, PairLocks.timeframe = False, "1m"
    PairLocks.reset_locks()
    strat = Strat(dict(ROW), runmode=RunMode.LIVE,
                  section={"risk": {"governor": {"enabled": False}}})  # fmt: skip
    ex = strat.dp._exchange = FakeExchange()
    monkeypatch.setattr(exchange_watch, "_clock", ex.clock)
    yield strat, ex, trades
    RejectWatch.detach()
    PairLocks.reset_locks()
    PairLocks.use_db = True


def _loops(strat, start, n, step=timedelta(seconds=5)):
    for i in range(n):
        strat.bot_loop_start(current_time=start + i * step)
    return start + n * step


def _health_locks(now):
    return [lk for lk in PairLocks.get_pair_locks("*", now) if lk.reason.startswith(HEALTH_LOCK)]


def test_health_state_machine_trips_and_lifts():
    h = ExchangeHealth()
    for _ in range(10):
        assert h.record(0.05) is None
    fault = ExchangeFault(FAULT, -1001, "-1001")
    changes = [h.record(None, fault=fault) for _ in range(6)]
    assert changes == [None] * 5 + ["trip"] and "error rate 60%" in h.alarm()
    assert [h.record(0.05), h.record(None), h.record(0.05), h.record(0.05)] == [None] * 4
    assert h.record(0.05) == "lift" and h.alarm() is None, "3 good probes in a row lift it"
    assert h.record(0.05) is None, "the fault's errors are forgotten once lifted"
    limited = ExchangeFault(RATE_LIMIT, -1003, "HTTP 429 -1003", retry_after_s=30)
    assert h.record(None, fault=limited, now=100.0) == "trip" and "Retry-After 30" in h.alarm()
    assert not h.may_probe(129.0) and h.may_probe(130.0)
    assert [h.record(0.05, now=t) for t in (110.0, 131.0, 132.0, 133.0)] == [None] * 3 + ["lift"]


def test_the_health_pause_trips_on_errors_and_lifts_when_healthy(live):
    strat, ex, _ = live
    t = _loops(strat, NOW, 10)
    assert not _health_locks(t)
    ex.fail = BAD
    t = _loops(strat, t, 6)
    locks = _health_locks(t)
    assert len(locks) == 1 and "error rate" in locks[0].reason and "-1001" in locks[0].reason
    assert any("entries paused" in m for m in strat.dp.sent)
    assert strat.entry_refusal(PAIR, 0.01, 100.0, t, "force_entry", "long").startswith(
        "exchange health")  # fmt: skip
    t = _loops(strat, t + timedelta(minutes=20), 3)  # fault outlives the lock: renewed
    assert _health_locks(t)
    ex.fail = None
    t = _loops(strat, t, 2)
    assert _health_locks(t), "two good probes are not yet recovery"
    t = _loops(strat, t, 1)
    assert not _health_locks(t) and not PairLocks.is_global_lock(t)
    assert "healthy again" in strat.dp.sent[-1]


def test_latency_and_rate_limits_pause_and_retry_after_is_honoured(live):
    strat, ex, _ = live
    t = _loops(strat, NOW, 8)
    ex.latency = 3.0
    t = _loops(strat, t, 1)
    assert not _health_locks(t)
    t = _loops(strat, t, 1)
    assert "latency 3.00 s" in _health_locks(t)[0].reason
    ex.latency = 0.05
    t = _loops(strat, t, 3)
    assert not _health_locks(t)
    ex.fail, ex._api.last_response_headers = LIMITED, {"Retry-After": "60"}
    t = _loops(strat, t, 1)
    assert "rate limit (HTTP 429 -1003" in _health_locks(t)[0].reason
    ex.fail, before = None, ex.probes
    t = _loops(strat, t, 11)  # 55 s: inside Retry-After, no call at all
    assert ex.probes == before and _health_locks(t)
    t = _loops(strat, t + timedelta(seconds=5), 3)
    assert ex.probes == before + 3 and not _health_locks(t)


def test_a_health_lock_left_by_a_restart_lifts_once_healthy(live):
    strat, ex, _ = live
    PairLocks.lock_pair("*", NOW + timedelta(minutes=15), f"{HEALTH_LOCK}: error rate", now=NOW)
    t = _loops(strat, NOW, 2)
    assert _health_locks(t)
    assert not _health_locks(_loops(strat, t, 1))


def test_position_gaps():
    pos = [{"symbol": "BTC/USDT:USDT", "side": "long", "contracts": 0.02, "contractSize": 1},
           {"symbol": "ETH/USDT:USDT", "side": None, "contracts": 0.0}]  # fmt: skip
    assert position_gaps(pos, [BotTrade("BTC/USDT:USDT", "long", 0.02)]) == []
    (gap,) = position_gaps(pos, [])
    assert gap.kind == "orphan" and "long 0.02 on BTC/USDT:USDT, unknown" in gap.describe()
    assert position_gaps(pos, [BotTrade("BTC/USDT:USDT", "long", 0.01)])[0].kind == "excess"
    assert position_gaps(pos, [BotTrade("BTC/USDT:USDT", "short", 0.02)])[0].kind == "excess"
    assert position_gaps(pos, [BotTrade("BTC/USDT:USDT", "long", 0.01, busy=True)]) == []
    assert position_gaps([], [BotTrade("SOL/USDT:USDT", "long", 3.0)])[0].kind == "ghost"


def test_an_orphan_position_locks_its_pair_until_it_is_closed(live):
    strat, ex, trades = live
    ex.positions = [{"symbol": PAIR, "side": "long", "contracts": 0.01, "contractSize": 1}]
    t = _loops(strat, NOW, 1)
    assert not PairLocks.is_pair_locked(PAIR, t), "one sighting may be a fill in flight"
    t = _loops(strat, t, 2)
    (lock,) = PairLocks.get_pair_locks(PAIR, t)
    assert lock.pair == PAIR and lock.reason.startswith(ORPHAN_LOCK) and "long 0.01" in lock.reason
    assert not PairLocks.is_global_lock(t), "only the orphan's pair"
    assert any("orphan position" in m for m in strat.dp.sent)
    assert "orphan" in strat.entry_refusal(PAIR, 0.01, 100.0, t, "force_entry", "long")
    calls = ex.position_calls
    t = _loops(strat, t, 6)  # 30 s: within orphan_check_seconds
    assert ex.position_calls == calls
    ex.positions = []
    t = _loops(strat, t + timedelta(seconds=60), 1)
    assert not PairLocks.is_pair_locked(PAIR, t) and "orphan resolved" in strat.dp.sent[-1]
    assert strat.watch_refusal(PAIR, t) is None


def test_an_open_stop_the_bot_never_stored_locks_its_pair(live):
    """A stop whose answer was lost: Freqtrade places another one; the first is an orphan."""
    strat, ex, _ = live
    ex.open_orders = [{"id": "3000002", "side": "sell", "amount": 0.01, "reduceOnly": True}]
    t = _loops(strat, NOW, 3)
    (lock,) = PairLocks.get_pair_locks(PAIR, t)
    assert lock.reason.startswith(ORPHAN_LOCK) and "open stop 3000002" in lock.reason
    ex.open_orders = []
    t = _loops(strat, t + timedelta(seconds=60), 1)
    assert not PairLocks.is_pair_locked(PAIR, t)


def test_rejects_alert_without_pausing_and_a_lost_answer_checks_positions_at_once(live):
    strat, ex, _ = live
    t = _loops(strat, NOW, 8)
    log = logging.getLogger("freqtrade.freqtradebot")
    log.warning("Unable to create trade for %s: Could not place buy order due to ExchangeError. "
                'Message: binanceusdm {"code":-2019,"msg":"Margin is insufficient."}', PAIR)  # fmt: skip
    t = _loops(strat, t, 1)
    assert f"{PAIR}: order rejected by the exchange (-2019 margin is insufficient)" in (
        strat.dp.sent[-1])  # fmt: skip
    assert not _health_locks(t)
    calls = ex.position_calls
    try:  # a forced entry over REST: uvicorn logs it, no pair in any message
        _create_order(pair=PAIR)
    except TemporaryError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    _loops(strat, t, 1)
    assert ex.position_calls == calls + 1 and f"{PAIR}: order answer lost" in strat.dp.sent[-1]


def _create_order(pair: str) -> None:
    raise TemporaryError("Could not place buy order due to RequestTimeout") from (
        ccxt.RequestTimeout('binanceusdm {"code":-1007,"msg":"Timeout waiting for response"}'))  # fmt: skip


def test_binance_futures_codes_classify_the_same_from_both_ccxt_classes(tmp_path):
    """Against 127.0.0.1 ccxt raises plain ExchangeError for futures codes (its futures map is
    only for Binance's hosts); the watch classifies by code first, by class otherwise."""
    ex = ccxt.binanceusdm()
    assert ex.get_exceptions_by_url("http://127.0.0.1:8999/fapi/v1/order", "exact") == {}
    futures = ex.get_exceptions_by_url("https://fapi.binance.com/fapi/v1/order", "exact")
    assert futures["-2019"] is ccxt.InsufficientFunds and futures["-4131"] is ccxt.OperationRejected
    for exc in (ccxt.InsufficientFunds('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'),
                ccxt.OperationRejected("binanceusdm PERCENT_PRICE"),
                ccxt.InvalidOrder('binanceusdm {"code":-4164,"msg":"notional"}')):  # fmt: skip
        assert classify(exc).kind == REJECT
    with private_venue(write_market(tmp_path)) as (v, client, clock):
        seen = {}
        cases = [("-1001", {"error_rate": 1.0, "error": "-1001"}),
                 ("503", {"error_rate": 1.0, "error": "503"}),
                 ("429", {"rate_limit_rate": 1.0, "retry_after_s": 7}),
                 ("-2019", {"reject_rate": 1.0, "reject_code": -2019}),
                 ("-4131", {"reject_rate": 1.0, "reject_code": -4131}),
                 ("-1007", {"lost_answer_rate": 1.0})]  # fmt: skip
        for name, drill in cases:
            requests.post(f"{v.url}/perpflow/drills", json={"reset": True, **drill}, timeout=5)
            with pytest.raises(ccxt.BaseError) as info:
                client.create_order(PAIR, "market", "buy", 0.01)
            seen[name] = (type(info.value), classify(info.value, client.last_response_headers))
        v.drills.set(reset=True)
        with pytest.raises(ccxt.BaseError) as info:  # a real reject: below the min notional
            client.create_order(PAIR, "limit", "buy", 0.001, 90_000)
        seen["-4164"] = (type(info.value), classify(info.value))
    assert seen["-2019"][0] is ccxt.ExchangeError and seen["-4164"][0] is ccxt.ExchangeError
    assert {k: f.kind for k, (_, f) in seen.items()} == {
        "-1001": FAULT, "503": FAULT, "429": RATE_LIMIT, "-2019": REJECT, "-4131": REJECT,
        "-1007": UNKNOWN, "-4164": REJECT}  # fmt: skip
    assert seen["429"][1].retry_after_s == 7 and seen["-4131"][1].code == -4131
