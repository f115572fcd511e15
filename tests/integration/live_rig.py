"""A live rig for drill tests: the venue (replay mode, its ledger in a file, a fixed port, a
simulated clock with skip-idle) and the real `freqtrade trade` with `dry_run: false` on the same
clock, its API server on loopback. The venue can be stopped and started again on the same ledger
and port while the bot runs (a venue restart)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import requests

from tests.conftest import REPO
from tests.integration.ft import free_port as _free_port

PAIR = "BTC/USDT:USDT"
USER, PASSWORD = "perpflow-drills", "not-a-real-secret"
# A strategy with no signals of its own and perpflow's exchange watch (RiskGuardMixin): the test
# drives entries and exits over the bot's REST API; the gates a probe has no columns for are off.
PROBE = """
from freqtrade.strategy import IStrategy

from perpflow.config import load_perpflow_config
from perpflow.risk.entry import entry_risk
from perpflow.strategy.risk_guard import RiskGuardMixin


class DrillProbe(RiskGuardMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = True
    stoploss = -0.2
    minimal_roi = {"0": 100}
    startup_candle_count = 10

    def __init__(self, config):
        super().__init__(config)
        self.pf = load_perpflow_config(config)

    def _last_row(self, pair, fields=()):
        return None

    def _entry_risk(self, pair, side, rate, tag):
        # no signal row: the fallback stop 1.5 x an ATR of 1% of the price, conviction unknown
        return entry_risk({"atr": 0.01 * rate}, self.pf.risk, side=side, rate=rate, tag=tag)

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe

    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage,
                 entry_tag, side, **kwargs):
        return 2.0
"""


class LiveRig:
    def __init__(self, datadir: Path, work: Path, origin: pd.Timestamp):
        from perpflow.venue.simclock import SimClock

        self.datadir, self.work = Path(datadir), Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.clock = SimClock.create(self.work / "clock", origin_ns=origin.value, skip_idle=True)
        self.key, self.secret = secrets.token_hex(16), secrets.token_hex(32)
        self.state, self.db = self.work / "ledger.sqlite", self.work / "bot.sqlite"
        self.log = self.work / "freqtrade.log"
        self.venue, self.port, self.proc = None, None, None
        self.api_port = _free_port()

    # --- the venue -------------------------------------------------------------------------
    def start_venue(self):
        from perpflow.venue.server import VenueServer

        day = pd.Timestamp(self.clock.time(), unit="s", tz="UTC").strftime("%Y-%m-%d")
        self.venue = VenueServer(self.datadir, mode="replay", clock=self.clock.time,
                                 replay_date=day, port=self.port or 0, state=self.state,
                                 api_keys={self.key: self.secret}).start()  # fmt: skip
        self.port = self.venue.port
        return self.venue

    def stop_venue(self) -> None:
        self.venue.stop()

    def drill(self, **settings) -> dict:
        r = requests.post(f"{self.venue.url}/perpflow/drills", json=settings, timeout=10)
        r.raise_for_status()
        return r.json()

    def ledger(self, fn):
        """`fn(ledger)` on the venue's event loop."""
        return self.venue.call(lambda: fn(self.venue.gateway.ledger))

    def position(self) -> float:
        sym = PAIR.split("/")[0] + "USDT"
        return self.ledger(lambda led: sum(p.amt for (k, s), p in led.positions.items()
                                           if k == self.key and s == sym))  # fmt: skip

    def operator(self):
        """A signed ccxt client of the same account (what an operator closes an orphan with)."""
        import ccxt

        from perpflow.venue.overlay import ccxt_config

        ex = ccxt.binance({**ccxt_config(self.venue.url), "apiKey": self.key,
                           "secret": self.secret})  # fmt: skip
        ex.milliseconds = lambda: int(self.clock.time() * 1000)
        ex.load_markets()
        return ex

    # --- the bot ---------------------------------------------------------------------------
    def start_bot(self, perpflow: dict, *, probe: str = PROBE, strategy: str = "DrillProbe",
                  configs: tuple[Path, ...] = ()) -> None:  # fmt: skip
        """The bot running `strategy` (source `probe`), with `configs` merged after config.json."""
        from perpflow.venue.overlay import exchange_overlay
        from perpflow.venue.simclock import ENV

        (self.work / "strategies").mkdir(exist_ok=True)
        (self.work / "strategies" / "drill_probe.py").write_text(probe)
        overlay = {
            "dry_run": False, "timeframe": "1m", "initial_state": "running",
            "strategy": strategy, "db_url": f"sqlite:///{self.db}", "force_entry_enable": True,
            "max_open_trades": 1, "stake_amount": 200, "exchange": {"pair_whitelist": [PAIR]},
            "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                           "listen_port": self.api_port, "verbosity": "error"},
            "perpflow": perpflow,
        }  # fmt: skip
        venue, bot = self.work / "venue.json", self.work / "bot.json"
        venue.write_text(json.dumps(exchange_overlay(self.venue.url)))
        bot.write_text(json.dumps(overlay))
        configs = [REPO / "config.json", *configs, venue, bot]
        cmd = [sys.executable, "-m", "perpflow.venue.simclock", "freqtrade", "trade"]
        for c in configs:
            cmd += ["-c", str(c)]
        cmd += [
            "--userdir",
            str(self.work / "ud"),
            "--strategy-path",
            str(self.work / "strategies"),
        ]
        env = {**os.environ, ENV: self.clock.spec.to_env(), "PYTHONUNBUFFERED": "1",
               "FREQTRADE__EXCHANGE__KEY": self.key, "FREQTRADE__EXCHANGE__SECRET": self.secret,
               "FREQTRADE__API_SERVER__USERNAME": USER, "FREQTRADE__API_SERVER__PASSWORD": PASSWORD,
               "FREQTRADE__API_SERVER__JWT_SECRET_KEY": secrets.token_hex(32),
               "FREQTRADE__API_SERVER__WS_TOKEN": secrets.token_hex(32)}  # fmt: skip
        (self.work / "ud").mkdir(exist_ok=True)
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)  # fmt: skip

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"http://127.0.0.1:{self.api_port}/api/v1/{path}",
                                auth=(USER, PASSWORD), timeout=60, **kw)  # fmt: skip

    def get(self, path: str):
        r = self.api("GET", path)
        r.raise_for_status()
        return r.json()

    def locks(self, prefix: str, pair: str = "*") -> list[dict]:
        return [lk for lk in self.get("locks")["locks"]
                if lk["pair"] == pair and lk["reason"].startswith(prefix)]  # fmt: skip

    def stop_bot(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(30)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        self.stop_bot()
        if self.venue is not None:
            self.venue.stop()
