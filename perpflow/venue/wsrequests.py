"""Market-stream websocket requests (`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`,
`SET_PROPERTY`, `GET_PROPERTY`) parsed and checked as Binance does, with Binance's error frames:
`{"error": {"code": 2, "msg": "Invalid request: ..."}, "id": ...}` (code 0 unknown property,
1 not a boolean, 2 invalid request, 3 invalid JSON; the table in Binance's websocket-streams
documentation, "Error Messages"). A bad stream name is `Invalid request: invalid stream`, as
Binance answers it (quoted in ccxt.pro's `binance.handle_ws_error`).

Written by hand: a small pure function, so it can be fuzzed without a socket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
MAX_STREAMS = 1024  # Binance: one connection listens to at most 1024 streams
MAX_ID = 2**64 - 1
# `<symbol>@<kind>[@<option>...]` or `!<kind>[@...]`, lower case once normalised
_STREAM_RE = re.compile(r"^(?:!?[a-z0-9_.\-]{1,40})(?:@[a-z0-9_:+.\-]{1,40}){0,3}$")


class WsRequestError(Exception):
    """A request answered with Binance's error frame."""

    def __init__(self, code: int, msg: str, rid=None):
        super().__init__(msg)
        self.code, self.msg, self.id = code, msg, rid

    def frame(self) -> dict:
        return {"error": {"code": self.code, "msg": self.msg}, "id": self.id}


@dataclass(frozen=True)
class WsRequest:
    method: str
    params: tuple
    id: int


def _invalid(msg: str, rid=None) -> WsRequestError:
    return WsRequestError(2, f"Invalid request: {msg}", rid)


def _request_id(req: dict):
    rid = req.get("id")
    if type(rid) is not int or not 0 <= rid <= MAX_ID:
        raise _invalid("request ID must be an unsigned integer")
    return rid


def stream_name(name) -> str | None:
    """A stream name as the hub keys it (lower case, update-speed suffix dropped:
    `BTCUSDT@depth@100ms` -> `btcusdt@depth`), or None if it is not one."""
    if type(name) is not str or "@" not in name and not name.startswith("!"):
        return None
    s = name.lower()
    if not _STREAM_RE.match(s):
        return None
    for speed in ("@100ms", "@250ms", "@500ms", "@0ms"):
        if s.endswith(speed) and "@depth" in s:
            s = s[: -len(speed)]
    return s


def _streams(params, rid) -> tuple[str, ...]:
    if not isinstance(params, list):
        raise _invalid("params must be an array of stream names", rid)
    if len(params) > MAX_STREAMS:
        raise _invalid(f"too many streams (at most {MAX_STREAMS} a connection)", rid)
    names = [stream_name(p) for p in params]
    if any(n is None for n in names):
        raise _invalid("invalid stream", rid)
    return tuple(names)


def _property(method: str, params, rid) -> tuple:
    if not isinstance(params, list) or not params or type(params[0]) is not str:
        raise _invalid("property name must be a string", rid)
    if params[0] != "combined":
        raise WsRequestError(0, "Unknown property", rid)
    if method == "GET_PROPERTY":
        if len(params) != 1:
            raise _invalid("too many parameters", rid)
        return ("combined",)
    if len(params) != 2:
        raise _invalid("too many parameters" if len(params) > 2 else "missing property value", rid)
    if type(params[1]) is not bool:
        raise WsRequestError(1, "Invalid value type: expected Boolean", rid)
    return ("combined", params[1])


def parse_request(text: str | bytes) -> WsRequest:
    """The request in one text frame, or `WsRequestError` with Binance's code and message."""
    try:
        req = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise WsRequestError(
            3, f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(req, dict):
        raise _invalid("expected an object with `method`, `params` and `id`")
    rid = _request_id(req)
    if set(req) - {"method", "params", "id"}:
        raise _invalid("too many parameters", rid)
    method = req.get("method")
    if method is None:
        raise _invalid("missing field `method`", rid)
    if method not in METHODS:
        shown = method if isinstance(method, str) else type(method).__name__
        raise _invalid(f"unknown variant `{shown[:64]}`, expected one of "
                       + ", ".join(f"`{m}`" for m in METHODS), rid)  # fmt: skip
    params = req.get("params")
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        return WsRequest(method, _streams(params, rid), rid)
    if method == "LIST_SUBSCRIPTIONS":
        if params not in (None, []):
            raise _invalid("too many parameters", rid)
        return WsRequest(method, (), rid)
    return WsRequest(method, _property(method, params, rid), rid)
