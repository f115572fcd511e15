"""The perpflow config section: defaults, errors naming the key, secrets, the shipped config."""

from __future__ import annotations

import json
import re

import pytest

from perpflow.config import PerpflowConfigError, check_secrets, load_perpflow_config
from tests.conftest import REPO

CREDENTIALS = {"key", "secret", "password", "username", "jwt_secret_key", "token", "chat_id"}


def _keys(node) -> set[str]:
    if isinstance(node, dict):
        return set(node) | set().union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


def test_shipped_configs_hold_no_credentials_and_are_valid():
    cfg = json.loads((REPO / "config.json").read_text())
    assert cfg["dry_run"] is True
    assert cfg["trading_mode"] == "futures" and cfg["margin_mode"] == "isolated"
    api = json.loads((REPO / "config.api.json").read_text())
    tg = json.loads((REPO / "config.telegram.json").read_text())
    for shipped in (cfg, api, tg):  # credentials come from FREQTRADE__... variables only
        assert not _keys(shipped) & CREDENTIALS
    assert api["api_server"]["listen_ip_address"] == "127.0.0.1"
    with pytest.raises(PerpflowConfigError, match="JWT_SECRET_KEY"):
        check_secrets({**cfg, "api_server": {**api["api_server"], "username": "u",
                                             "password": "p"}}, env={})  # fmt: skip
    with pytest.raises(PerpflowConfigError, match="FREQTRADE__TELEGRAM__TOKEN"):
        check_secrets({**cfg, **tg}, env={})
    load_perpflow_config(cfg)


def test_missing_section_means_defaults():
    pf = load_perpflow_config({})
    assert pf.risk.risk_per_trade == 0.01 and pf.risk.trail_atr == 2.0


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"risk": {"risk_per_trade": 0.5}}, "perpflow.risk.risk_per_trade"),
        ({"filters": {"sessions": {"blocks": ["tokyo"]}}}, "perpflow.filters.sessions.blocks[0]"),
        ({"risk": {"typo_key": 1}}, "perpflow.risk.typo_key"),
        ({"filters": {"open_interest": {"timeframe": "five"}}}, "perpflow.filters.open_interest"),
        ({"risk": {"governor": {"pause_hours": 24}}}, "perpflow.risk.governor"),
        ({"risk": {"governor": {"rearm": ""}}}, "perpflow.risk.governor.rearm"),
        ({"risk": {"governor": {"backtest_rearm_hours": 0}}}, "perpflow.risk.governor.backtest"),
        # issue 15, item 8: each of these was accepted before
        (
            {"filters": {"funding": {"max_staleness_hours": float("inf")}}},
            "perpflow.filters.funding",
        ),
        ({"filters": {"book": {"max_staleness_seconds": float("inf")}}}, "perpflow.filters.book"),
        (
            {"filters": {"open_interest": {"block_long_regimes": [99]}}},
            "perpflow.filters.open_interest.block_long_regimes[0]",
        ),
        (
            {"filters": {"open_interest": {"timeframe": "7m"}}},
            "perpflow.filters.open_interest.timeframe",
        ),
        ({"risk": {"session_trail": {"ny_opn": 1.2}}}, "perpflow.risk.session_trail.ny_opn"),
        ({"risk": {"session_trail": {"ny_open": -1.0}}}, "perpflow.risk.session_trail.ny_open"),
        ({"risk": {"risk_per_trade": "0.01"}}, "perpflow.risk.risk_per_trade"),
        ({"sweep": {"swing_left": "12"}}, "perpflow.sweep.swing_left"),
        ({"filters": {"macro": {"enabled": "false"}}}, "perpflow.filters.macro.enabled"),
        ({"risk": {"pool_stops": 1}}, "perpflow.risk.pool_stops"),
        ({"risk": {"max_leverage": float("nan")}}, "perpflow.risk.max_leverage"),
        ({"filters": {"book": {"exchange": "Bin ance"}}}, "perpflow.filters.book.exchange"),
    ],
)
def test_wrong_values_name_the_key(section, needle):
    with pytest.raises(PerpflowConfigError, match=re.escape(needle)):
        load_perpflow_config({"perpflow": section})


def test_removed_governor_pause_says_what_replaced_it():
    with pytest.raises(PerpflowConfigError, match="pause_hours was removed.*re-arms"):
        load_perpflow_config({"perpflow": {"risk": {"governor": {"pause_hours": 24}}}})


def test_config_is_frozen():
    pf = load_perpflow_config({})
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen set
        pf.risk.risk_per_trade = 0.02  # type: ignore[misc]


def test_enumerations_match_their_sources():
    from typing import get_args

    import ccxt

    from perpflow.config import OIRegime, Timeframe, TrailSession
    from perpflow.features.open_interest import OI_REGIMES
    from perpflow.features.sessions import SESSION_NAMES

    assert set(get_args(Timeframe)) == set(ccxt.binanceusdm().timeframes) - {"1s"}
    assert set(get_args(OIRegime)) == set(OI_REGIMES)
    assert set(get_args(TrailSession)) == {*SESSION_NAMES.values(), "other"}


def test_evidence_status_is_enumerated_and_shipped_as_none():
    """The shipped rules carry their evidence status (issue 16 item 5): "none" until a plan
    passes its confirmation span; anything else is refused with the key path."""
    shipped = load_perpflow_config(json.loads((REPO / "config.json").read_text()))
    assert shipped.evidence.status == "none" and "docs/evidence.md" in shipped.evidence.note
    with pytest.raises(PerpflowConfigError, match="perpflow.evidence.status"):
        load_perpflow_config({"perpflow": {"evidence": {"status": "proven"}}})
