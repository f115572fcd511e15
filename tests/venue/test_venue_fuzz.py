"""Hypothesis fuzzing of the local exchange's input boundary over real HTTP and websockets:
whatever the query parameters or subscription frames, the answer is a Binance-style result or
error (never a 500, a traceback or a dropped connection), and the server keeps serving."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from perpflow.venue.auth import sign
from perpflow.venue.params import PUBLIC
from perpflow.venue.wsrequests import METHODS, WsRequest, WsRequestError, parse_request
from tests.venue.private_env import KEY, SECRET, private_venue, write_market

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip

ODD = ["", "0", "-1", "1", "5", "1500", "1501", "abc", "1.5", "1e3", "nan", "inf", "-0", " 5",
       "0x10", "1_000", "9223372036854775807", "9223372036854775808", "9" * 21, "BTCUSDT",
       "btcusdt", "BTC/USDT", "ETHUSDT", "NOPEUSDT", "5m", "7m", "1h", "BUY", "SELL", "LIMIT",
       "MARKET", "STOP_MARKET", "GTC", "GTX", "true", "false", "TRUE", "PERPETUAL", "x" * 300,
       "\u00e9\u00e8", "%00", "\x00", "100000", "99000.1", "0.010", "0.0000001"]  # fmt: skip
VALUES = st.one_of(st.sampled_from(ODD), st.text(max_size=24),
                   st.integers(-(2**70), 2**70).map(str), st.floats().map(repr))  # fmt: skip
PUBLIC_NAMES = sorted({n for checks, _ in PUBLIC.values() for n in checks} | {"foo", "pair"})
PRIVATE_NAMES = ["symbol", "side", "type", "quantity", "price", "stopPrice", "timeInForce",
                 "newClientOrderId", "orderId", "origClientOrderId", "closePosition", "reduceOnly",
                 "workingType", "positionSide", "priceProtect", "leverage", "marginType",
                 "dualSidePosition", "multiAssetsMargin", "startTime", "endTime", "limit",
                 "fromId", "incomeType", "page", "algoType", "triggerPrice", "clientAlgoId",
                 "algoId", "recvWindow"]  # fmt: skip
PRIVATE = [("POST", "/fapi/v1/order"), ("GET", "/fapi/v1/order"), ("DELETE", "/fapi/v1/order"),
           ("GET", "/fapi/v1/openOrder"), ("GET", "/fapi/v1/openOrders"), ("GET", "/fapi/v1/allOrders"),
           ("DELETE", "/fapi/v1/allOpenOrders"), ("POST", "/fapi/v1/algoOrder"),
           ("GET", "/fapi/v1/algoOrder"), ("DELETE", "/fapi/v1/algoOrder"),
           ("GET", "/fapi/v1/allAlgoOrders"), ("GET", "/fapi/v1/userTrades"), ("GET", "/fapi/v1/income"),
           ("GET", "/fapi/v3/account"), ("GET", "/fapi/v3/positionRisk"), ("POST", "/fapi/v1/leverage"),
           ("POST", "/fapi/v1/marginType"), ("POST", "/fapi/v1/positionSide/dual"),
           ("POST", "/fapi/v1/multiAssetsMargin"), ("GET", "/fapi/v1/leverageBracket"),
           ("GET", "/fapi/v1/commissionRate"), ("GET", "/fapi/v1/symbolConfig")]  # fmt: skip


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    root = write_market(tmp_path_factory.mktemp("fuzz-venue"))
    with private_venue(root) as (server, _, clock):
        yield server, clock


def _clean(r: requests.Response) -> None:
    """A Binance-style answer: 2xx JSON, or 4xx with {"code": <0, "msg": "..."}."""
    assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text[:300])
    body = r.json()
    if r.status_code >= 400:
        assert isinstance(body, dict) and set(body) == {"code", "msg"}, body
        assert type(body["code"]) is int and body["code"] < 0 and isinstance(body["msg"], str)
        assert "Traceback" not in body["msg"]


LIMITS = {
    "/fapi/v1/fundingRate": 1000,
    "/futures/data/openInterestHist": 500,
    "/fapi/v1/aggTrades": 1000,
}  # max `limit`; the kline endpoints 1500 (Binance's docs)


def _must_refuse(path: str, pairs: list[tuple[str, str]]) -> str | None:
    """Why Binance refuses this market-data query (None: no rule broken), by the rules in its
    docs, independent of the venue's code: a parameter sent twice; a time, id or count that is
    not a plain integer; `limit` out of range; a malformed symbol; start after end."""
    q = dict(pairs)
    if len(q) != len(pairs):
        return "duplicate"
    declared = PUBLIC[path][0]
    for name in ("startTime", "endTime", "limit", "fromId"):
        if name in declared and q.get(name) and not re.fullmatch(r"[0-9]{1,20}", q[name]):
            return f"{name} not an integer"
    if (
        "symbol" in declared
        and q.get("symbol")
        and not re.fullmatch(r"[A-Z0-9\-_.]{1,20}", q["symbol"])
    ):
        return "malformed symbol"
    if q.get("limit") and "limit" in declared and q["limit"].isdigit():
        n = int(q["limit"])
        if path == "/fapi/v1/depth":
            if n not in (5, 10, 20, 50, 100, 500, 1000):
                return "depth limit"
        elif not 1 <= n <= LIMITS.get(path, 1500):
            return "limit out of range"
    times = [q.get(n) for n in ("startTime", "endTime")]
    if (
        "startTime" in declared
        and all(t and t.isdigit() for t in times)
        and int(times[0]) > int(times[1])
    ):
        return "start after end"
    return None


def _params(names: list[str], base: dict[str, str]):
    """Query parameters as (name, value) pairs: some of `base` (a valid request), some changed
    or added, and now and then one sent twice."""
    changed = st.dictionaries(st.sampled_from(names), VALUES, max_size=5)
    dropped = st.lists(st.sampled_from(sorted(base)), max_size=2)
    pair = st.tuples(st.sampled_from(names), VALUES)
    twice = st.sampled_from([0, 0, 0, 1]).flatmap(lambda n: st.lists(pair, min_size=n, max_size=n))
    return st.builds(lambda d, c, t: [*{**{n: v for n, v in base.items() if n not in d}, **c}.items(), *t],
                     dropped, changed, twice)  # fmt: skip


@FUZZ
@given(path=st.sampled_from(sorted(PUBLIC)),
       pairs=_params(PUBLIC_NAMES, {"symbol": "BTCUSDT", "interval": "5m", "period": "5m",
                                    "limit": "5", "startTime": "1777600000000"}))  # fmt: skip
def test_market_data_parameters_get_clean_answers(venue, path, pairs):
    """Never a 500; a query that breaks one of Binance's rules is refused (a 4xx), never
    answered with data as if it were valid."""
    server, _ = venue
    r = requests.get(f"{server.url}{path}?{urlencode(pairs)}", timeout=30)
    _clean(r)
    why = _must_refuse(path, pairs)
    assert why is None or r.status_code == 400, (why, pairs, r.status_code, r.text[:200])


@FUZZ
@given(route=st.sampled_from(PRIVATE),
       pairs=_params(PRIVATE_NAMES, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                     "quantity": "0.010", "price": "99000.0", "timeInForce": "GTC",
                                     "leverage": "5", "orderId": "1", "limit": "10"}))  # fmt: skip
def test_private_parameters_get_clean_answers(venue, route, pairs):
    server, clock = venue
    method, path = route
    query = urlencode([*pairs, ("timestamp", str(int(clock.t * 1000)))])
    query += f"&signature={sign(SECRET, query)}"
    r = requests.request(method, f"{server.url}{path}?{query}", headers={"X-MBX-APIKEY": KEY},
                         timeout=30)  # fmt: skip
    _clean(r)
    if len(dict(pairs)) != len(pairs):  # a parameter sent twice: -1101, not one of them ignored
        assert r.status_code == 400 and r.json()["code"] == -1101, (pairs, r.text[:200])


@pytest.mark.parametrize("field,value", [("quantity", "inf"), ("quantity", "nan"),
                                         ("price", "nan"), ("price", "1e5"), ("quantity", "-1")])  # fmt: skip
def test_numbers_that_are_not_decimals_are_illegal_characters(venue, field, value):
    """Python's float() reads "inf", "nan" and "1e5": the venue answered a 500 (on_grid(inf))
    or placed an order at 100,000; Binance refuses them as illegal characters."""
    server, clock = venue
    q = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.010",
         "price": "99000.0", "timeInForce": "GTC", field: value}  # fmt: skip
    query = urlencode([*q.items(), ("timestamp", str(int(clock.t * 1000)))])
    query += f"&signature={sign(SECRET, query)}"
    r = requests.post(
        f"{server.url}/fapi/v1/order?{query}", headers={"X-MBX-APIKEY": KEY}, timeout=30
    )
    assert r.status_code == 400 and r.json()["code"] == -1100 and f"'{field}'" in r.json()["msg"]


def test_the_server_still_serves_after_the_fuzzing(venue):
    server, _ = venue
    assert requests.get(f"{server.url}/fapi/v1/ping", timeout=10).json() == {}
    r = requests.get(f"{server.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=2", timeout=10)
    assert r.status_code == 200 and len(r.json()) == 2


JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)  # fmt: skip
REQUESTS = st.fixed_dictionaries(
    {"method": st.one_of(st.sampled_from(METHODS), JSON),
     "params": st.one_of(st.lists(st.one_of(st.sampled_from(["btcusdt@depth", "!forceOrder@arr",
                                                             "BTCUSDT@aggTrade", "combined"]),
                                            JSON), max_size=4), JSON),
     "id": st.one_of(st.integers(0, 2**64 - 1), JSON)},
    optional={"extra": JSON},
)  # fmt: skip


@FUZZ
@given(frame=st.one_of(st.text(max_size=80), st.binary(max_size=80), JSON, REQUESTS))
def test_parse_request_answers_every_frame_cleanly(frame):
    text = (
        frame
        if isinstance(frame, str | bytes)
        else orjson.dumps(frame, option=orjson.OPT_NON_STR_KEYS)
    )
    try:
        req = parse_request(text)
    except WsRequestError as exc:
        assert exc.code in (0, 1, 2, 3) and isinstance(exc.msg, str) and exc.msg
        assert exc.id is None or type(exc.id) is int
        orjson.dumps(exc.frame())
    else:
        assert isinstance(req, WsRequest) and req.method in METHODS and type(req.id) is int


@pytest.fixture(scope="module")
def market_ws(venue):
    server, _ = venue
    with connect(server.ws_url, open_timeout=10) as ws:
        yield ws


@FUZZ
@given(frame=st.one_of(st.text(min_size=1, max_size=80), REQUESTS))
def test_subscription_frames_get_one_clean_answer_each_on_a_live_connection(market_ws, frame):
    text = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
    market_ws.send(text)
    answer = orjson.loads(market_ws.recv(timeout=10))
    assert set(answer) in ({"result", "id"}, {"error", "id"}), answer
    if "error" in answer:
        assert answer["error"]["code"] in (0, 1, 2, 3) and isinstance(answer["error"]["msg"], str)
