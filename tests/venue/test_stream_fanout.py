"""The local exchange's websocket fan-out over real sockets: a client that never reads does not
hold back one that does (it is cut once it falls behind), and subscription requests get
Binance's error frames."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time

import aiohttp
import orjson
import pytest

from perpflow.venue.depth import DepthFeed, synthetic_stream
from perpflow.venue.fanout import SendLimits
from perpflow.venue.server import VenueServer
from tests.venue.private_env import write_market

MARKET = "BTCUSDT"


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    return write_market(tmp_path_factory.mktemp("fanout-venue"))  # a small BTCUSDT data dir


def stuck_client(port: int, path: str = "/ws/btcusdt@depth") -> socket.socket:
    """A websocket client that completes the handshake and then never reads again (a 4 KB
    receive buffer, so the exchange's writes back up quickly)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return s


def _ended(s: socket.socket, timeout: float = 10.0) -> bool:
    """Read what the exchange had sent until the connection ends (EOF or reset)."""
    s.settimeout(timeout)
    try:
        while s.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


async def _read_depth(url: str, hub, *, after_cut: int, timeout: float) -> list[dict]:
    """Depth messages of one reading client until `after_cut` more arrived after the hub cut
    a client (or `timeout` seconds passed)."""
    got, seen_cut_at = [], None
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        while time.monotonic() < deadline:
            try:
                msg = await asyncio.wait_for(ws.receive(), timeout=deadline - time.monotonic())
            except TimeoutError:
                break
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            got.append(orjson.loads(msg.data))
            if seen_cut_at is None and hub.cut:
                seen_cut_at = len(got)
            if seen_cut_at is not None and len(got) >= seen_cut_at + after_cut:
                break
    return got


def test_a_client_that_never_reads_is_cut_and_does_not_stall_the_others(datadir):
    b, a, ups = synthetic_stream(100_000.0, tick=0.1, seed=2)  # endless diffs, 2,000 a second
    feed = DepthFeed({MARKET: (b, a, ups)}, speed=200.0, ledger=0)
    limits = SendLimits(socket_buffer=16_384)  # the default lag (5 s); small kernel buffers
    with VenueServer(datadir, depth=feed, ws_limits=limits) as server:
        stuck = stuck_client(server.port)
        try:
            got = asyncio.run(_read_depth(f"{server.ws_url}/btcusdt@depth", server.hub,
                                          after_cut=3000, timeout=25.0))  # fmt: skip
            assert server.hub.cut, "the client that never read was not cut"
            assert _ended(stuck), "the cut client's connection is closed"
        finally:
            stuck.close()
    assert len(server.hub.cut) == 1 and "too slow" in server.hub.cut[0], server.hub.cut
    # the reading client kept receiving, every diff in sequence, long after the stuck one
    # stopped reading (a stalled fan-out delivers ~4 MB, then nothing)
    assert len(got) >= 3000
    assert all(m["pu"] == p["u"] for p, m in zip(got, got[1:], strict=False)), "no diff missed"


async def _exchange(url: str, frames: list) -> list[dict]:
    """Send each frame (text, or a JSON value) and collect one answer per frame."""
    out = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        for f in frames:
            await ws.send_str(f if isinstance(f, str) else orjson.dumps(f).decode())
            out.append(orjson.loads((await asyncio.wait_for(ws.receive(), 10)).data))
    return out


def test_subscription_requests_get_binance_error_frames(datadir):
    frames = [
        '{"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 1',  # not JSON
        [1, 2],
        {"params": ["btcusdt@depth"], "id": 2},
        {"method": "SUBSCRIBES", "params": ["btcusdt@depth"], "id": 3},
        {"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": -4},
        {"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": "5"},
        {"method": "SUBSCRIBE", "params": "btcusdt@depth", "id": 6},
        {"method": "SUBSCRIBE", "params": ["btc usdt@depth", 7], "id": 7},
        {"method": "SUBSCRIBE", "params": [f"s{i}@depth" for i in range(1025)], "id": 8},
        {"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 9, "extra": True},
        {"method": "SET_PROPERTY", "params": ["colour", True], "id": 10},
        {"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 11},
        {"method": "SUBSCRIBE", "params": ["BTCUSDT@depth@100ms", "!forceOrder@arr"], "id": 12},
        {"method": "LIST_SUBSCRIPTIONS", "id": 13},
        {"method": "GET_PROPERTY", "params": ["combined"], "id": 14},
    ]
    with VenueServer(datadir) as server:
        got = asyncio.run(_exchange(server.ws_url, frames))
        alive = asyncio.run(_exchange(server.ws_url, [{"method": "LIST_SUBSCRIPTIONS", "id": 1}]))
    codes = [(g.get("error") or {}).get("code") for g in got]
    assert codes == [3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 1, None, None, None], got
    assert got[0]["error"]["msg"].startswith("Invalid JSON") and got[0]["id"] is None
    assert "missing field `method`" in got[2]["error"]["msg"] and got[2]["id"] == 2
    assert "unknown variant `SUBSCRIBES`" in got[3]["error"]["msg"]
    assert got[4]["error"]["msg"] == "Invalid request: request ID must be an unsigned integer"
    assert got[7]["error"]["msg"] == "Invalid request: invalid stream" and got[7]["id"] == 7
    assert [g["id"] for g in got[8:]] == list(range(8, 15))
    assert got[12] == {"result": None, "id": 12}
    assert got[13] == {"result": ["!forceorder@arr", "btcusdt@depth"], "id": 13}
    assert got[14] == {"result": False, "id": 14} and alive == [{"result": [], "id": 1}]


def test_a_client_gone_during_the_handshake_is_logged_not_a_server_error(datadir, monkeypatch,
                                                                          caplog):  # fmt: skip
    """A recorder cut for falling behind reconnects and may drop that attempt: the exchange logs
    it in one line (it used to print aiohttp's 'Error handling request' traceback)."""
    real = aiohttp.web.WebSocketResponse.prepare
    gone: list = []  # the first connection's response: its transport is closing

    async def leaving(self, request):
        if not gone or gone[0] is self:
            gone[:] = [self]
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
        return await real(self, request)

    monkeypatch.setattr(aiohttp.web.WebSocketResponse, "prepare", leaving)
    with VenueServer(datadir) as server, caplog.at_level("INFO"):
        # aiohttp's client retries a dropped GET once, on a new connection that is served
        answer = asyncio.run(_exchange(server.ws_url, [{"method": "LIST_SUBSCRIPTIONS", "id": 1}]))
        assert server.hub.connections == 1, "the dropped attempt was never registered"
    assert len(gone) == 1 and answer == [{"result": [], "id": 1}]
    assert "left during the handshake" in caplog.text
    assert "Error handling request" not in caplog.text
