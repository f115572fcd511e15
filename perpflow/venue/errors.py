"""Binance-style API errors: `{"code": -1121, "msg": "Invalid symbol."}` with an HTTP status."""

from __future__ import annotations


class BinanceError(Exception):
    """An error answered in Binance's own JSON shape."""

    def __init__(self, code: int, msg: str, status: int = 400):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def missing_param(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def invalid_interval() -> BinanceError:
    return BinanceError(-1120, "Invalid interval.")


def bad_value(name: str, detail: str = "") -> BinanceError:
    suffix = f" {detail}" if detail else ""
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.{suffix}")


def unauthorized() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def not_found(path: str) -> BinanceError:
    return BinanceError(-5000, f"Path {path} not found on the perpflow local exchange.", 404)
