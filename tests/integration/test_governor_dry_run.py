"""The drawdown cap in a real `freqtrade trade --dry-run` against the replay venue: the governor's
peak persisted in the bot's database (as a previous run at 20,000 USDT would have left it) trips
the cap on start-up; the trip is a global lock seen over REST, FreqUI's risk panel shows it, and
deleting the lock with `DELETE /api/v1/locks/{id}` (what FreqUI's Locks view and Telegram's
/delete_locks do) re-arms it, logged with the re-based peak."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO
from tests.integration.ft import FREQTRADE, assert_clean_log, interrupt_bot, write_json
from tests.integration.test_dry_run_replay import PASSWORD, USER, _free_port, _wait_for

pytestmark = pytest.mark.integration

SEED = """
import sys
from freqtrade.persistence import KeyValueStore, init_db
init_db(sys.argv[1])
KeyValueStore.store_value("perpflow_gov_peak", 20000.0)
"""


def _governor_locks(base: str) -> list[dict]:
    locks = requests.get(f"{base}/locks", auth=(USER, PASSWORD), timeout=10).json()["locks"]
    return [lk for lk in locks if lk["reason"].startswith("perpflow drawdown governor")]


def _last_candle(base: str) -> dict | None:
    data = requests.get(f"{base}/pair_candles", auth=(USER, PASSWORD), timeout=20,
                        params={"pair": "BTC/USDT:USDT", "timeframe": "1m", "limit": 5}).json()  # fmt: skip
    if not data.get("data"):
        return None
    return dict(zip(data["columns"], data["data"][-1], strict=True))


def test_persisted_peak_trips_and_a_rest_lock_deletion_rearms(demo_datadir, tmp_path):
    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    db_url = f"sqlite:///{tmp_path / 'dry.sqlite'}"
    subprocess.run([sys.executable, "-c", SEED, db_url], check=True, cwd=REPO)  # a fresh process
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    with VenueServer(demo_datadir, mode="replay", port=0) as venue:
        overlay = write_json(tmp_path / "venue.json", exchange_overlay(venue.url))
        extra = write_json(tmp_path / "dry.json", {
            "timeframe": "1m", "db_url": db_url, "initial_state": "running",
            "internals": {"process_throttle_secs": 2}, "api_server": {"listen_port": port}})  # fmt: skip
        env = {**os.environ, "FREQTRADE__API_SERVER__USERNAME": USER,
               "FREQTRADE__API_SERVER__PASSWORD": PASSWORD,
               "FREQTRADE__API_SERVER__JWT_SECRET_KEY": "perpflow-test-jwt-secret-0123456789abcdef",
               "FREQTRADE__API_SERVER__WS_TOKEN": "perpflow-test-ws-token-0123456789abcdef"}  # fmt: skip
        log = tmp_path / "freqtrade.log"
        cmd = [FREQTRADE, "trade", "--dry-run", "-c", str(REPO / "config.json"),
               "-c", str(REPO / "config.api.json"), "-c", str(overlay), "-c", str(extra),
               "--userdir", str(tmp_path / "ud"), "--strategy-path", str(REPO / "strategies")]  # fmt: skip
        (tmp_path / "ud").mkdir()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"),
                                stderr=subprocess.STDOUT)  # fmt: skip
        try:
            (lock,) = _wait_for(lambda: _governor_locks(base), 120, "the governor's trip lock")
            assert lock["pair"] == "*" and "/delete_locks" in lock["reason"]
            candle = _wait_for(lambda: (c := _last_candle(base)) and c.get("pf_risk_scale") == 0.0
                               and c, 120, "the risk panel showing the trip")  # fmt: skip
            assert candle["pf_drawdown"] == pytest.approx(0.5, abs=0.01)
            requests.delete(f"{base}/locks/{lock['id']}", auth=(USER, PASSWORD), timeout=10)
            _wait_for(lambda: "operator deleted the governor lock" in " ".join(
                log.read_text().split()), 60, "the re-arm")  # fmt: skip
            assert not _governor_locks(base)
            _wait_for(lambda: (c := _last_candle(base)) and c.get("pf_risk_scale") == 1.0, 120,
                      "the risk panel back at full size")  # fmt: skip
        except BaseException as exc:
            proc.kill()
            proc.wait(30)
            raise AssertionError(f"{exc}; log tail:\n{log.read_text()[-5000:]}") from exc
        running, shutdown = interrupt_bot(proc, log)
    text = " ".join(running.split())  # the console log wraps long lines
    assert "governor state restored: peak 20000.00" in text
    assert "governor hard at" in text and "from the peak 20,000.00" in text
    assert "peak re-based from 20,000.00 to the equity 10,000.00" in text
    assert_clean_log(running, shutdown)
