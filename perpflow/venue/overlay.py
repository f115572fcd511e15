"""Freqtrade config overlay that points the `binance` exchange at the local exchange."""

from __future__ import annotations

# Every REST root ccxt's binance class knows, so nothing can reach the real exchange.
_API_KEYS = {
    "fapiPublic": "/fapi/v1", "fapiPublicV2": "/fapi/v2", "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1", "fapiPrivateV2": "/fapi/v2", "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data", "public": "/api/v3", "private": "/api/v3", "v1": "/api/v1",
    "sapi": "/sapi/v1", "sapiV2": "/sapi/v2", "sapiV3": "/sapi/v3", "sapiV4": "/sapi/v4",
    "dapiPublic": "/dapi/v1", "dapiPrivate": "/dapi/v1", "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data", "eapiPublic": "/eapi/v1", "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1", "papiV2": "/papi/v2",
}  # fmt: skip


def ccxt_config(base_url: str) -> dict:
    """The `exchange.ccxt_config` block: REST and websocket URLs to the venue, linear markets
    only, no currencies."""
    base = base_url.rstrip("/")
    ws = base.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
    api = {k: base + v for k, v in _API_KEYS.items()}
    api["ws"] = {k: ws for k in ("spot", "margin", "future", "linear", "inverse")}
    return {
        "urls": {"api": api},
        "options": {
            "defaultType": "swap",
            "fetchMarkets": {"types": ["linear"]},
            "fetchCurrencies": False,
            "adjustForTimeDifference": False,
        },
    }


def exchange_overlay(base_url: str) -> dict:
    """A Freqtrade config fragment (`{"exchange": {...}}`) to merge after config.json."""
    cfg = ccxt_config(base_url)
    return {
        "exchange": {
            "name": "binance",
            "ccxt_config": cfg,
            "ccxt_async_config": cfg,
            "only_from_ccxt": True,
        }
    }
