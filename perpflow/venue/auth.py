"""Signed requests as Binance checks them: API key header, HMAC-SHA256 signature over the query
string and form body, `timestamp` within `recvWindow` of the venue's clock.

Written by hand: this is the server side of what ccxt's `binance.sign` does (no library serves it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from urllib.parse import parse_qsl

from perpflow.venue.errors import BinanceError, missing_param
from perpflow.venue.params import opt_int, single_values

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000


def keys_from_env(name: str) -> dict[str, str]:
    """`{key: secret}` from the env vars `name` (the key) and `name` with `_KEY` replaced by
    `_SECRET` (e.g. PERPFLOW_VENUE_API_KEY / PERPFLOW_VENUE_API_SECRET)."""
    secret_name = name[:-4] + "_SECRET" if name.endswith("_KEY") else name + "_SECRET"
    key, secret = os.environ.get(name), os.environ.get(secret_name)
    if not key or not secret:
        raise SystemExit(f"set {name} and {secret_name} in the environment (the venue's API key "
                         "and secret)")  # fmt: skip
    return {key: secret}


def bad_key() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def api_key_of(headers, keys: dict[str, str]) -> str:
    """The request's API key (header `X-MBX-APIKEY`), or -2014 / -2015."""
    key = headers.get("X-MBX-APIKEY")
    if not key:
        raise BinanceError(-2014, "API-key format invalid.", status=401)
    if key not in keys:
        raise bad_key()
    return key


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """(`raw` without its `signature=` parameter, the signature)."""
    if not raw:
        return "", None
    parts = raw.split("&")
    sig = None
    kept = []
    for p in parts:
        if p.startswith("signature="):
            sig = p[len("signature=") :]
        else:
            kept.append(p)
    return "&".join(kept), sig


def verify(method: str, query: str, body: str, headers, keys: dict[str, str], now_ms: int,
           check_time: bool = True) -> tuple[str, dict[str, str]]:  # fmt: skip
    """Check a signed request; returns (api key, all parameters). Raises Binance's errors:
    -2014/-2015 key, -1102 missing timestamp/signature, -1022 bad signature, -1021 clock."""
    key = api_key_of(headers, keys)
    q_raw, q_sig = _strip_signature(query)
    b_raw, b_sig = _strip_signature(body)
    sig = q_sig or b_sig
    if not sig:
        raise missing_param("signature")
    total = q_raw + b_raw  # Binance: query string concatenated with the body
    want = hmac.digest(keys[key].encode(), total.encode(), "sha256").hex()
    if not hmac.compare_digest(want, sig.lower()):
        raise BinanceError(-1022, "Signature for this request is not valid.")
    params = single_values(parse_qsl(q_raw, keep_blank_values=True)
                           + parse_qsl(b_raw, keep_blank_values=True))  # fmt: skip
    if "timestamp" not in params:
        raise missing_param("timestamp")
    if check_time:
        check_timestamp(params, now_ms)
    return key, params


def check_timestamp(params: dict, now_ms: int) -> None:
    ts = opt_int(params, "timestamp")
    window = opt_int(params, "recvWindow") or DEFAULT_RECV_WINDOW
    if ts is None:
        raise missing_param("timestamp")
    if window > MAX_RECV_WINDOW:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    if ts >= now_ms + 1000:
        raise BinanceError(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if now_ms - ts > window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def sign(secret: str, params: str) -> str:
    """HMAC-SHA256 hex of `params` (for clients and benchmarks that sign by hand)."""
    return hmac.new(secret.encode(), params.encode(), hashlib.sha256).hexdigest()
