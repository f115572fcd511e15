"""Security rules of a Freqtrade config that perpflow enforces before a bot starts.

- An enabled API server needs username, password, JWT secret and websocket token, the secrets
  from the environment (`FREQTRADE__API_SERVER__*`), never a config file; the JWT secret and
  ws token at least 32 characters and not a public default. Freqtrade's schema fills in a public
  default JWT secret when none is given (and its web server only warns about it), so a "value
  is present" check is not enough: the defaults are refused by name.
- The API server listens on loopback unless `perpflow.allow_remote_api` says otherwise.
- Enabled Telegram needs its token and chat id (`FREQTRADE__TELEGRAM__*`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from perpflow.errors import PerpflowConfigError

MIN_SECRET_LENGTH = 32
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# the API server's secrets, which must come from these environment variables
ENV_SECRETS = {"password": "FREQTRADE__API_SERVER__PASSWORD",
               "jwt_secret_key": "FREQTRADE__API_SERVER__JWT_SECRET_KEY",
               "ws_token": "FREQTRADE__API_SERVER__WS_TOKEN"}  # fmt: skip


def freqtrade_default_secrets() -> frozenset[str]:
    """JWT secrets Freqtrade ships or documents: its schema's default (filled in when the key is
    missing) and the values its web server warns about (freqtrade/rpc/api_server/webserver.py)."""
    from freqtrade.config_schema.config_schema import CONF_SCHEMA

    api = CONF_SCHEMA["properties"]["api_server"]["properties"]
    schema_default = api["jwt_secret_key"].get("default")
    return frozenset(filter(None, (schema_default, "super-secret", "somethingrandom",
                                   "somethingRandomSomethingRandom123")))  # fmt: skip


def _from_env(value: Any, raw: str | None) -> bool:
    """`value` is what Freqtrade makes of the environment variable's text `raw` (it turns
    numbers, booleans and JSON lists into typed values: its `_get_var_typed`)."""
    if raw is None:
        return False
    from freqtrade.configuration.environment_vars import _get_var_typed

    return value == raw or value == _get_var_typed(raw)


def _secret_problem(key: str, value: Any, env: Mapping[str, str]) -> str | None:
    """What is wrong with one API server secret, or None."""
    name = ENV_SECRETS[key]
    values = value if isinstance(value, list) else [value]
    if not value or not all(values):
        return f"{key} is unset: export {name}"
    if key != "password" and any(str(v) in freqtrade_default_secrets() for v in values):
        return f"{key} is Freqtrade's public default: export {name} with a secret of your own"
    if not _from_env(value, env.get(name)):
        return f"{key} is set in a config file: remove it there and export {name} instead"
    if key != "password" and any(len(str(v)) < MIN_SECRET_LENGTH for v in values):
        return (f"{key} is shorter than {MIN_SECRET_LENGTH} characters: export {name} with e.g. "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`")  # fmt: skip
    return None


def api_server_problems(config: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """Every security rule an enabled `api_server` section breaks (empty when disabled)."""
    api = config.get("api_server") or {}
    if not api.get("enabled"):
        return []
    problems = (
        [] if api.get("username") else ["username is unset: export FREQTRADE__API_SERVER__USERNAME"]
    )
    problems += [p for k in ENV_SECRETS if (p := _secret_problem(k, api.get(k), env))]
    remote_ok = bool((config.get("perpflow") or {}).get("allow_remote_api"))
    if api.get("listen_ip_address") not in LOOPBACK and not remote_ok:
        problems.append("listen_ip_address is not loopback; put it behind a reverse proxy or set "
                        "perpflow.allow_remote_api=true explicitly")  # fmt: skip
    return [f"api_server.{p}" for p in problems]


def telegram_problems(config: Mapping[str, Any]) -> list[str]:
    """The rule an enabled `telegram` section breaks: token and chat id must be set."""
    tg = config.get("telegram") or {}
    if tg.get("enabled") and not (tg.get("token") and tg.get("chat_id")):
        return ["telegram is enabled but token/chat_id are unset: export "
                "FREQTRADE__TELEGRAM__TOKEN and FREQTRADE__TELEGRAM__CHAT_ID"]  # fmt: skip
    return []


def check_secrets(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> None:
    """Refuse an enabled API server or Telegram bot that breaks a rule of the module docstring;
    `config` is Freqtrade's merged config (environment variables applied), `env` the process
    environment (default `os.environ`). Raises `PerpflowConfigError` listing every problem."""
    env = os.environ if env is None else env
    problems = api_server_problems(config, env) + telegram_problems(config)
    if problems:
        raise PerpflowConfigError("; ".join(problems))
