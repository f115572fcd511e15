"""Live parity: the bot in dry-run (or live against the local exchange) over stored hours, against
a backtest of the same hours, trade by trade.

The bot and the venue share a simulated clock (`perpflow.venue.simclock`) that starts at the
stored `start`, so the bot sees the same candles, funding times and liquidation store as the
backtest, and its idle waits are skipped: a day of 5m candles runs in minutes. When the clock
passes `end` the bot's analysed frames are read over its REST API (what FreqUI shows) and it is
stopped; then the same hours are backtested with the same configs. `perpflow.validation.
parity_causes` matches the trades and names the cause of every difference.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests

from perpflow.validation.shadow import dry_run_trades

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
API_USER = "perpflow-parity"


@dataclass(frozen=True)
class ParitySpec:
    """What to replay: stored `start`..`end` (UTC) of `pairs` in `datadir`, with `configs`
    (config.json first, then overlays, as given to freqtrade), results in `out`."""

    datadir: Path
    start: pd.Timestamp
    end: pd.Timestamp
    pairs: tuple[str, ...]
    out: Path
    configs: tuple[Path, ...] = (REPO / "config.json",)
    strategy: str = "LiquiditySweep"
    speed: float = 1.0
    throttle_secs: int | None = None  # None: the config's own process_throttle_secs
    real_timeout_s: float = 3600.0
    overlay: dict = field(default_factory=dict)  # extra settings for both sides

    def merged_config(self) -> dict:
        """The configs merged the way freqtrade merges them (later files win)."""
        from freqtrade.misc import deep_merge_dicts

        merged: dict = {}
        for path in self.configs:
            merged = deep_merge_dicts(json.loads(Path(path).read_text()), merged)
        return deep_merge_dicts(self.overlay, merged)

    @property
    def timeframe(self) -> str:
        return self.merged_config().get("timeframe", "5m")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BotRun:
    """What a replayed bot left: its trades (Freqtrade's database), analysed frames, log."""

    mode: str
    trades: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    log: Path
    db: Path
    real_seconds: float
    returncode: int | None = None
    ledger: dict = field(default_factory=dict)
    probe: object = None


def _bot_overlay(spec: ParitySpec, mode: str, db: Path, port: int) -> dict:
    """Settings of the replayed bot beyond the user's configs: running at once, its own
    database, the API server on loopback (credentials from the environment), the pairs."""
    overlay = {
        "dry_run": mode == "dry",
        "initial_state": "running",
        "db_url": f"sqlite:///{db}",
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": port,
                       "verbosity": "error", "enable_openapi": False, "CORS_origins": []},
        "exchange": {"pair_whitelist": list(spec.pairs)},
        "pairlists": [{"method": "StaticPairList"}],
    }  # fmt: skip
    if spec.throttle_secs is not None:
        overlay["internals"] = {"process_throttle_secs": int(spec.throttle_secs)}
    return overlay


def _live_side(mode: str, work: Path) -> tuple[dict, dict]:
    """Venue options and bot environment of a run: for "live", a fresh key pair (the bot's
    exchange key and secret) and the venue's ledger in the run's folder."""
    if mode != "live":
        return {}, {}
    key, secret = secrets.token_hex(16), secrets.token_hex(32)
    ledger = work / "ledger.sqlite"
    for p in work.glob("ledger.sqlite*"):
        p.unlink()
    return ({"api_keys": {key: secret}, "state": ledger},
            {"FREQTRADE__EXCHANGE__KEY": key, "FREQTRADE__EXCHANGE__SECRET": secret})  # fmt: skip


def run_bot(spec: ParitySpec, mode: str = "dry", *, progress: bool = True,
            probe=None) -> BotRun:  # fmt: skip
    """Replay `spec` with the real `freqtrade trade` on the simulated clock: dry-run, or live
    (`mode == "live"`: real signed orders on the venue's matching engine and ledger).
    `probe(base_url, auth)`, if given, is called once the replay is done, while the bot still
    runs (e.g. to read the REST endpoints FreqUI calls); its answer is kept in `BotRun.probe`."""
    from tqdm import tqdm

    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer
    from perpflow.venue.simclock import ENV, SimClock

    work = Path(spec.out) / mode
    (work / "ud").mkdir(parents=True, exist_ok=True)
    db, log = work / "bot.sqlite", work / "freqtrade.log"
    for p in work.glob("bot.sqlite*"):
        p.unlink()
    clock = SimClock.create(work / "clock", origin_ns=spec.start.value, speed=spec.speed,
                            skip_idle=True)  # fmt: skip
    port = _free_port()
    password = secrets.token_hex(16)
    venue_kwargs, bot_env = _live_side(mode, work)
    env = {**os.environ, **bot_env, ENV: clock.spec.to_env(), "PYTHONUNBUFFERED": "1",
           "FREQTRADE__API_SERVER__USERNAME": API_USER,
           "FREQTRADE__API_SERVER__PASSWORD": password,
           "FREQTRADE__API_SERVER__JWT_SECRET_KEY": secrets.token_hex(32),
           "FREQTRADE__API_SERVER__WS_TOKEN": secrets.token_hex(32)}  # fmt: skip
    with VenueServer(spec.datadir, mode="replay", clock=clock.time,
                     replay_date=f"{spec.start:%Y-%m-%d}", **venue_kwargs) as venue:  # fmt: skip
        (work / "venue.json").write_text(json.dumps(exchange_overlay(venue.url)))
        (work / "bot.json").write_text(json.dumps(_bot_overlay(spec, mode, db, port)))
        cmd = [sys.executable, "-m", "perpflow.venue.simclock", "freqtrade", "trade"]
        for c in (*spec.configs, work / "venue.json", work / "bot.json"):
            cmd += ["-c", str(c)]
        cmd += ["--userdir", str(work / "ud"), "--datadir", str(spec.datadir),
                "--strategy", spec.strategy,
                "--strategy-path", str(REPO / "strategies")]  # fmt: skip
        t0, seen = time.monotonic(), None
        with log.open("w") as fh:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
            try:
                _follow(proc, clock, spec, progress=progress and tqdm)
                frames = _analysed_frames(port, password, spec) if proc.poll() is None else {}
                seen = (
                    probe(f"http://127.0.0.1:{port}/api/v1", (API_USER, password))
                    if probe
                    else None
                )
            finally:
                _stop(proc)
        real = time.monotonic() - t0
    trades = dry_run_trades(db) if db.exists() else pd.DataFrame()
    ledger = {}
    if mode == "live":
        from perpflow.validation.reconcile import reconcile

        ledger = reconcile(db, venue_kwargs["state"], next(iter(venue_kwargs["api_keys"])))
    return BotRun(mode, trades, frames, log, db, real, proc.returncode, ledger, seen)


def _follow(proc: subprocess.Popen, clock, spec: ParitySpec, *, progress) -> None:
    """Wait until the shared clock passes `end` plus one candle (the last candle's entry is
    placed), showing progress in replayed minutes; fail if the bot dies or time runs out."""
    done_at = (spec.end + pd.Timedelta(spec.timeframe) + pd.Timedelta(seconds=30)).value / 1e9
    total = (done_at - spec.start.value / 1e9) / 60
    bar = progress(total=round(total), desc=f"replay {spec.start:%m-%d %H:%M}", unit="min",
                   mininterval=5) if progress else None  # fmt: skip
    deadline = time.monotonic() + spec.real_timeout_s
    try:
        while clock.time() < done_at:
            if proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {proc.returncode} before the replay ended")
            if time.monotonic() > deadline:
                raise TimeoutError(f"replay not done after {spec.real_timeout_s:.0f} s real time")
            if bar is not None:
                bar.n = min(bar.total, round((clock.time() - spec.start.value / 1e9) / 60))
                bar.refresh()
            time.sleep(1)
    finally:
        if bar is not None:
            bar.close()


def _analysed_frames(port: int, password: str, spec: ParitySpec) -> dict[str, pd.DataFrame]:
    """The bot's analysed dataframe per pair (REST `pair_candles`, what FreqUI charts)."""
    base = f"http://127.0.0.1:{port}/api/v1"
    n = int((spec.end - spec.start) / pd.Timedelta(spec.timeframe)) + 50
    out = {}
    for pair in spec.pairs:
        r = requests.get(f"{base}/pair_candles", auth=(API_USER, password), timeout=120,
                         params={"pair": pair, "timeframe": spec.timeframe, "limit": n})  # fmt: skip
        r.raise_for_status()
        body = r.json()
        df = pd.DataFrame(body.get("data", []), columns=body.get("columns", []))
        if "date" in df:
            df["date"] = pd.to_datetime(df["date"], utc=True)
        out[pair] = df
    return out


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def run_backtest(spec: ParitySpec) -> tuple[pd.DataFrame, Path]:
    """Backtest `spec`'s hours with the same configs (trades, and the result folder)."""
    from perpflow.validation.study import Variant, run_study, variant_trades

    merged = spec.merged_config()
    rng = f"{spec.start:%Y%m%dT%H%M}-{spec.end:%Y%m%dT%H%M}"
    overlay = {k: v for k, v in merged.items() if k not in ("exchange", "pairlists")}
    overlay |= {"exchange": {"pair_whitelist": list(spec.pairs)},
                "pairlists": [{"method": "StaticPairList"}]}  # fmt: skip
    study = Path(spec.out) / "backtest"
    for stale in study.glob("variants/backtest/result.json"):
        stale.unlink()  # a parity run always backtests anew
    run_study([Variant("backtest", rng, overlay)], study_dir=study, datadir=spec.datadir,
              pairs=list(spec.pairs), workers=1, progress=False, config=spec.configs[0],
              export="signals")  # fmt: skip
    return variant_trades(
        study, "backtest"
    ), study / "variants" / "backtest" / "ud" / "backtest_results"


def backtest_signals(results_dir: Path, strategy: str) -> dict[str, pd.DataFrame]:
    """The backtest's signal candles per pair (Freqtrade's `--export signals`)."""
    from freqtrade.data.btanalysis import load_backtest_analysis_data

    data = load_backtest_analysis_data(results_dir, "signals") or {}
    return dict(data.get(strategy, {}))


def _compare(spec: ParitySpec, bot: BotRun, bt_trades: pd.DataFrame, signals: dict) -> dict:
    """Match one bot run against the backtest, explain the differences, keep the evidence."""
    from perpflow.validation.parity_causes import book_model_bps, explain, match_trades, summary

    out = Path(spec.out) / bot.mode
    m = match_trades(bot.trades, bt_trades, timeframe=spec.timeframe, start=spec.start,
                     end=spec.end)  # fmt: skip
    m["model_bps"] = book_model_bps(m, spec.datadir)
    m["cause"] = explain(m, live_frames=bot.frames, bt_signals=signals, live_trades=bot.trades,
                         bt_trades=bt_trades, log_text=bot.log.read_text(errors="replace"),
                         timeframe=spec.timeframe)  # fmt: skip
    m.to_csv(out / "parity.csv", index=False)
    for pair, frame in bot.frames.items():
        frame.to_parquet(out / f"analysed-{pair.split('/')[0]}.parquet", index=False)
    diffs = m[m["status"] != "matched"][["pair", "side", "candle", "status", "cause"]]
    return {**summary(m), "real_seconds": round(bot.real_seconds, 1),
            "replayed_hours": (spec.end - spec.start) / pd.Timedelta(hours=1),
            "bot_exit": bot.returncode, "ledger": bot.ledger, "probe": bot.probe,
            "differences": diffs.astype(str).to_dict("records")}  # fmt: skip


def run_parity(spec: ParitySpec, modes: tuple[str, ...] = ("dry",), *, progress: bool = True,
               parallel: bool = True, probe=None) -> dict:  # fmt: skip
    """Backtest the hours, replay them with the bot in each mode (side by side, each with its
    own venue and clock, when `parallel`), match, explain; writes
    `<out>/<mode>/parity.csv`, `<out>/parity.json` and `<out>/parity.md`; returns the summary."""
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    bt_trades, bt_dir = run_backtest(spec)
    signals = backtest_signals(bt_dir, spec.strategy)
    report: dict = {"start": str(spec.start), "end": str(spec.end), "pairs": list(spec.pairs),
                    "timeframe": spec.timeframe, "configs": [str(c) for c in spec.configs],
                    "modes": {}}  # fmt: skip
    with ThreadPoolExecutor(max_workers=len(modes) if parallel else 1) as pool:
        runs = pool.map(lambda m: run_bot(spec, m, progress=progress, probe=probe), modes)
        bots = dict(zip(modes, runs, strict=True))
    for mode, bot in bots.items():
        report["modes"][mode] = _compare(spec, bot, bt_trades, signals)
    (out / "parity.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "parity.md").write_text(render_markdown(report))
    return report


def _num(v) -> str:
    return "n/a" if v is None or v != v else f"{v:.2f}"


def render_markdown(report: dict) -> str:
    """A short human report: one table per mode and every difference with its cause."""
    lines = [f"# Parity {report['start']} -> {report['end']} ({', '.join(report['pairs'])}, "
             f"{report['timeframe']})", ""]  # fmt: skip
    for mode, r in report["modes"].items():
        lines += [f"## {mode}", "",
                  f"backtest trades {r['backtest_trades']}, bot trades {r['live_trades']}, "
                  f"matched {r['matched']} ({r['matched_share']:.0%}); entry slippage vs backtest "
                  f"median {_num(r['slippage_bps_median'])} bps, largest "
                  f"{_num(r['slippage_bps_max_abs'])} bps (the exchange's own book walk predicts "
                  f"each within {_num(r['model_residual_bps_max_abs'])} bps); "
                  f"{r['replayed_hours']:.1f} h replayed "
                  f"in {r['real_seconds']:.0f} s", ""]  # fmt: skip
        if r["ledger"]:
            led = r["ledger"]
            lines += [f"ledger: {led['checks']} checks of {led['orders']} orders and "
                      f"{led['closed_trades']} closed trades against the venue, {led['failed']} "
                      "failed", ""]  # fmt: skip
            lines += [f"- {f['what']}: {f['detail']}" for f in led["failures"]]
        for d in r["differences"]:
            lines.append(f"- {d['status']} {d['pair']} {d['side']} {d['candle']}: {d['cause']}")
        lines.append("")
    return "\n".join(lines)
