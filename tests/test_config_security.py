"""Security rules (issue 15, item 5): an enabled API server needs its secrets from the
environment, 32+ characters and not Freqtrade's public default (which Freqtrade's schema fills
in when the key is missing); Telegram needs token and chat id; credentials files are ignored."""

from __future__ import annotations

import subprocess

import pytest

from perpflow.config import PerpflowConfigError, check_secrets
from perpflow.config_security import freqtrade_default_secrets
from tests.conftest import REPO

JWT = "j" * 40
WS = "w" * 40
ENV = {"FREQTRADE__API_SERVER__USERNAME": "u", "FREQTRADE__API_SERVER__PASSWORD": "p",
       "FREQTRADE__API_SERVER__JWT_SECRET_KEY": JWT, "FREQTRADE__API_SERVER__WS_TOKEN": WS}  # fmt: skip


def _api(**over) -> dict:
    api = {"enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": 8080,
           "username": "u", "password": "p", "jwt_secret_key": JWT, "ws_token": WS}  # fmt: skip
    return {"api_server": {k: v for k, v in {**api, **over}.items() if v is not None}}


def test_secrets_from_the_environment_pass():
    check_secrets(_api(), ENV)
    check_secrets({"api_server": {"enabled": False}}, {})


def test_freqtrades_filled_default_jwt_secret_is_refused():
    """Freqtrade's schema (validate_config_schema) fills `jwt_secret_key` with its public default;
    the old check saw a value and let a token signed with that default in."""
    from freqtrade.configuration.config_validation import validate_config_schema

    config = {**_api(jwt_secret_key=None), "stake_currency": "USDT", "dry_run": True,
              "exchange": {"name": "binance"}, "max_open_trades": 1, "stake_amount": 10}  # fmt: skip
    validate_config_schema(config, preliminary=True)
    filled = config["api_server"]["jwt_secret_key"]
    assert filled in freqtrade_default_secrets()
    env = {**ENV, "FREQTRADE__API_SERVER__JWT_SECRET_KEY": filled}
    with pytest.raises(PerpflowConfigError, match="jwt_secret_key is Freqtrade's public default"):
        check_secrets(config, env)


@pytest.mark.parametrize(
    ("over", "env_over", "needle"),
    [
        (
            {"jwt_secret_key": None},
            {"FREQTRADE__API_SERVER__JWT_SECRET_KEY": None},
            "jwt_secret_key is unset",
        ),
        ({"ws_token": None}, {"FREQTRADE__API_SERVER__WS_TOKEN": None}, "ws_token is unset"),
        (
            {"jwt_secret_key": "short"},
            {"FREQTRADE__API_SERVER__JWT_SECRET_KEY": "short"},
            "shorter than 32",
        ),
        (
            {"ws_token": "tok"},
            {"FREQTRADE__API_SERVER__WS_TOKEN": "tok"},
            "ws_token is shorter than 32",
        ),
        (
            {},
            {"FREQTRADE__API_SERVER__JWT_SECRET_KEY": None},
            "jwt_secret_key is set in a config file",
        ),
        ({}, {"FREQTRADE__API_SERVER__PASSWORD": "other"}, "password is set in a config file"),
        ({"password": None}, {}, "FREQTRADE__API_SERVER__PASSWORD"),
        ({"listen_ip_address": "0.0.0.0"}, {}, "loopback"),
        (
            {"jwt_secret_key": "super-secret"},
            {"FREQTRADE__API_SERVER__JWT_SECRET_KEY": "super-secret"},
            "public default",
        ),
    ],
)
def test_each_rule_names_what_to_export(over, env_over, needle):
    env = {k: v for k, v in {**ENV, **env_over}.items() if v is not None}
    with pytest.raises(PerpflowConfigError, match=needle):
        check_secrets(_api(**over), env)


def test_env_values_are_compared_as_freqtrade_types_them():
    env = {**ENV, "FREQTRADE__API_SERVER__PASSWORD": "0012"}  # Freqtrade makes it the int 12
    check_secrets(_api(password=12), env)


def test_remote_api_needs_the_explicit_switch():
    cfg = {**_api(listen_ip_address="0.0.0.0"), "perpflow": {"allow_remote_api": True}}
    check_secrets(cfg, ENV)


def test_telegram_needs_token_and_chat_id():
    with pytest.raises(PerpflowConfigError, match="FREQTRADE__TELEGRAM__TOKEN"):
        check_secrets({"telegram": {"enabled": True, "token": "t"}}, {})
    check_secrets({"telegram": {"enabled": True, "token": "t", "chat_id": "1"}}, {})


def _need_git() -> None:
    if subprocess.run(["git", "rev-parse"], cwd=REPO, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: .gitignore does not apply")


@pytest.mark.parametrize("name", [".env", ".env.production", ".envrc", "secrets.json", "secrets.yaml",
                                  "secrets", "config.private.json", "config.live.private.json",
                                  "config.local.json", "config.live.local.json"])  # fmt: skip
def test_credential_files_are_git_ignored(name):
    # before: .env, secrets.json and config.private.json could be committed (issue 15)
    _need_git()
    proc = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO)
    assert proc.returncode == 0, f"{name} is not ignored"


def test_shipped_configs_are_not_ignored():
    _need_git()
    for name in ("config.json", "config.api.json", "config.telegram.json", "config.replay.json"):
        assert subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO).returncode == 1
