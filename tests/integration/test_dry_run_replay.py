"""Dry-run smoke test: `freqtrade trade --dry-run` against the venue replaying the demo market.

Runs at most ~3 minutes: the bot starts with the API server on 127.0.0.1, is checked over its
REST API (ping, status, show_config, fresh analysed 1m candles) and is stopped cleanly. Telegram
and a webhook are enabled against local stand-ins: perpflow's risk alerts must reach both.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime

import pytest
import requests

from tests.conftest import REPO
from tests.integration.ft import FREQTRADE, assert_clean_log, interrupt_bot, wait, write_json
from tests.integration.ft import free_port as _free_port
from tests.integration.standins.telegram_server import TelegramStandIn

SITECUSTOMIZE = REPO / "tests" / "integration" / "standins" / "sitecustomize_telegram"

pytestmark = pytest.mark.integration

USER, PASSWORD = "perpflow-test", "not-a-real-secret"


def _wait_for(fn, timeout: float, what: str):
    """`ft.wait`, polling every 2 s (the bot's REST API under a replaying exchange)."""
    return wait(fn, timeout, what, every=2)


def test_dry_run_against_replay_venue(demo_datadir, tmp_path):
    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    port = _free_port()
    with VenueServer(demo_datadir, mode="replay", port=0) as venue, TelegramStandIn() as tg:
        overlay = write_json(tmp_path / "venue.json", exchange_overlay(venue.url))
        extra = write_json(
            tmp_path / "dry.json",
            {
                "timeframe": "1m",
                "db_url": f"sqlite:///{tmp_path / 'dry.sqlite'}",
                "initial_state": "running",
                "internals": {"process_throttle_secs": 2},
                "api_server": {"listen_port": port},
                "webhook": {"enabled": True, "url": tg.webhook_url, "format": "json",
                            "allow_custom_messages": True, "strategy_msg": {"text": "{msg}"}},
            },
        )  # fmt: skip
        ud = tmp_path / "ud"
        ud.mkdir()
        env = {
            **os.environ,
            "FREQTRADE__API_SERVER__USERNAME": USER,
            "FREQTRADE__API_SERVER__PASSWORD": PASSWORD,
            "FREQTRADE__API_SERVER__JWT_SECRET_KEY": "perpflow-test-jwt-secret-0123456789abcdef",
            "FREQTRADE__API_SERVER__WS_TOKEN": "perpflow-test-ws-token-0123456789abcdef",
            "FREQTRADE__TELEGRAM__TOKEN": "7000001:perpflow-test-token",
            "FREQTRADE__TELEGRAM__CHAT_ID": "4242",
            "PERPFLOW_TELEGRAM_BASE_URL": tg.base_url,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(SITECUSTOMIZE), os.environ.get("PYTHONPATH")])
            ),
        }
        log = tmp_path / "freqtrade.log"  # the bot's stdout/stderr (its log lines)
        # the shipped API and Telegram overlays, as a user adds them; credentials from env only
        cmd = [FREQTRADE, "trade", "--dry-run", "-c", str(REPO / "config.json"),
               "-c", str(REPO / "config.api.json"), "-c", str(REPO / "config.telegram.json"),
               "-c", str(overlay), "-c", str(extra), "--userdir", str(ud),
               "--strategy-path", str(REPO / "strategies")]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"),
                                stderr=subprocess.STDOUT)  # fmt: skip
        try:
            _check_bot(port)
            _wait_for(lambda: any("perpflow: risk settings" in m for m in tg.messages), 60,
                      "the risk alert on the Telegram stand-in")  # fmt: skip
            _wait_for(lambda: any("perpflow: risk settings" in str(w) for w in tg.webhooks), 30,
                      "the risk alert on the webhook")  # fmt: skip
            assert "getMe" in tg.calls, "Freqtrade's Telegram module talked to the stand-in"
            settings = next(m for m in tg.messages if "perpflow: risk settings" in m)
            assert "evidence: none (no demonstrated edge" in settings, settings
        except BaseException as exc:
            proc.kill()
            proc.wait(30)
            raise AssertionError(
                f"bot check failed ({exc}); log tail:\n{log.read_text()[-5000:]}"
            ) from exc
        running, shutdown = interrupt_bot(proc, log)  # Ctrl-C: Freqtrade cleans up, exits 130
    assert "Cleaning up modules" in shutdown and "Stopping API Server" in shutdown
    assert_clean_log(running, shutdown)


def _check_bot(port: int) -> None:
    base = f"http://127.0.0.1:{port}/api/v1"
    auth = (USER, PASSWORD)
    _wait_for(lambda: requests.get(f"{base}/ping", timeout=5).json().get("status") == "pong",
              90, "API ping")  # fmt: skip
    cfg = requests.get(f"{base}/show_config", auth=auth, timeout=10).json()
    assert cfg["dry_run"] is True and cfg["trading_mode"] == "futures"
    assert cfg["timeframe"] == "1m" and cfg["strategy"] == "LiquiditySweep"
    assert isinstance(requests.get(f"{base}/status", auth=auth, timeout=10).json(), list)

    def fresh_candles():
        r = requests.get(
            f"{base}/pair_candles", auth=auth, timeout=20,
            params={"pair": "BTC/USDT:USDT", "timeframe": "1m", "limit": 100},
        )  # fmt: skip
        data = r.json()
        if not data.get("data"):
            return None
        last = dict(zip(data["columns"], data["data"][-1], strict=True))
        last_date = datetime.fromisoformat(str(last["date"]).replace("Z", "+00:00"))
        if last_date.tzinfo is None:
            last_date = last_date.replace(tzinfo=UTC)
        age = (datetime.now(UTC) - last_date).total_seconds()
        return (last, last_date) if age < 180 else None

    first, first_date = _wait_for(fresh_candles, 120, "fresh analysed candles")
    assert {"sweep_low", "funding_z", "oi_change", "session_block"} <= set(first)
    # the replayed funding and open interest reached the strategy through the venue
    assert first["funding_z"] is not None and first["oi_change"] is not None, first
    # FreqUI's "risk (live)" panel: the governor's state at the candle's close, from the first
    # analysed candle on (it was empty until the next candle when joined on the open time)
    assert first["pf_drawdown"] == 0.0 and first["pf_risk_scale"] == 1.0, first
    _assert_can_enter(first)
    # the replay advances with the wall clock and the bot analyses the new candle
    _wait_for(lambda: (c := fresh_candles()) and c[1] > first_date, 150, "a newer candle")


# Inputs of the entry gates on the strategy's own candles, funding and open interest (the
# replayed hours have no recorded liquidations or books: those entries stay blocked, by design).
GATE_INPUTS = ("rv_pct", "atr", "vp_val", "vp_vah", "funding_z", "oi_regime", "oi_z", "price_z",
               "session_block", "macro_blackout")  # fmt: skip


def _assert_can_enter(last: dict) -> None:
    """The last analysed live row has every gate and the inputs it reads: the derived warm-up
    reached the bot (with the old 300 start-up candles rv_pct was null on every live row)."""
    gates = [c for c in last if c.startswith("ok_")]
    assert len(gates) >= 11, gates
    missing = [c for c in (*gates, *GATE_INPUTS) if last.get(c) is None]
    assert not missing, f"null on the last live row: {missing}"
