"""The `perpflow` command: one subcommand per script-like job.

perpflow demo-data [--outdir DIR] [--days N] [--seed S]
perpflow demo-books --start 2026-06-01 --end 2026-06-15 [--datadir DIR]
perpflow venue serve [--datadir DIR] [--port P] [--mode history|replay]
perpflow venue run [--datadir DIR] [--mode ...] -- COMMAND ... {overlay} ...
perpflow venue markets import FILE [--datadir DIR] | list [--datadir DIR]
perpflow config overlay --venue-url URL [--out FILE]
perpflow collect liquidations [--exchange binance] [--symbols ...] [--venue-url URL]
perpflow download quarterlies --pairs ... --since DATE [--venue-url URL]
perpflow stress [--backtest RESULT] [--datadir DIR] [--wick 0.05]
perpflow risk report [--backtest RESULT | --api-url URL]
perpflow validate walk-forward|robustness|exchanges|shadow ...
perpflow label --pairs ... [--datadir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_DEMO_DIR = Path("user_data/data/demo")


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from perpflow.data.demo import generate_demo_market

    summary = generate_demo_market(Path(args.outdir), days=args.days, seed=args.seed, progress=True)
    print(f"SYNTHETIC demo market written to {args.outdir}: {summary}")
    return 0


def _cmd_demo_books(args: argparse.Namespace) -> int:
    from perpflow.data.demo_books import write_demo_books

    try:
        n = write_demo_books(Path(args.datadir), args.pairs, start=args.start, end=args.end,
                             exchanges=tuple(args.exchanges), store=Path(args.store) if args.store else None)  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"demo-books: {exc}") from None
    where = args.store or Path(args.datadir) / "store"
    print(f"SYNTHETIC books: {n:,} records for {len(args.pairs)} pair(s) on {', '.join(args.exchanges)} "
          f"into {where} (try them with perpflow.filters.book.enabled=true)")
    return 0


def _load_liquidations(path: str | None):
    """Liquidation events for the venue's forceOrder stream: a forceOrder CSV or a store root."""
    if not path:
        return None
    from perpflow.data.liquidations import read_forceorder_csv
    from perpflow.data.store import read_events

    p = Path(path)
    if p.is_file():
        return read_forceorder_csv(p)
    events = read_events(p, "liquidations")
    if events.empty:
        raise SystemExit(f"{p}: no stored liquidations (import some with `perpflow import "
                         "liquidations` or collect them)")  # fmt: skip
    return events


def _venue_private(args: argparse.Namespace) -> tuple[dict | None, dict]:
    """API keys (from --api-key-env) and the private side's options of `perpflow venue` (none
    unless a key is given or `run --live` makes one)."""
    private = {"state": Path(args.state) if args.state else None, "wallet": args.wallet,
               "maker_fee": args.maker_fee, "taker_fee": args.taker_fee}  # fmt: skip
    if not args.api_key_env:
        return None, (private if getattr(args, "live", False) else {})
    from perpflow.venue.auth import keys_from_env

    return keys_from_env(args.api_key_env), private


def _cmd_venue_serve(args: argparse.Namespace) -> int:
    from perpflow.venue.server import serve

    keys, private = _venue_private(args)
    serve(
        Path(args.datadir), host=args.host, port=args.port, mode=args.mode,
        runway_days=args.runway_days, liquidations=_load_liquidations(args.liquidations),
        liquidation_speed=args.liquidation_speed, depth=_load_depth(args), api_keys=keys,
        private=private,
    )  # fmt: skip
    return 0


def _load_depth(args: argparse.Namespace):
    """The venue's depth feed from --depth: "synthetic" (every listed pair) or a snapshots
    parquet (ts, symbol, bid_px_0, ...; each symbol replayed from its first capture)."""
    if not getattr(args, "depth", None):
        return None
    import pandas as pd

    from perpflow.features.orderbook import capture_sessions
    from perpflow.venue.depth import (
        DepthFeed,
        raw_binance_capture,
        synthetic_stream,
        updates_from_snapshots,
    )
    from perpflow.venue.venue import Venue

    if args.depth == "synthetic":  # --depth-minutes of 100 ms diffs around each pair's last price
        venue = Venue(Path(args.datadir))
        sources = {}
        for i, sym in enumerate(s for s in venue.specs if "_" not in s):
            cur = venue.current(sym)
            if cur is not None:
                tick = float(venue.specs.filter_value(sym, "PRICE_FILTER", "tickSize"))
                sources[sym] = synthetic_stream(cur[0], tick=tick, n=int(args.depth_minutes * 600), seed=i)
    else:
        rename = _depth_as(args.depth_as)
        path = Path(args.depth)
        if not path.exists():
            raise SystemExit(f"--depth {path}: no such file (a snapshots parquet or a raw .jsonl.zst capture)")
        if path.name.endswith(".jsonl.zst"):  # a raw Binance USDT-M capture, replayed verbatim
            try:
                sources = raw_binance_capture(path, rename)
            except ValueError as exc:
                raise SystemExit(f"--depth: {exc}") from None
        else:
            rows = pd.read_parquet(path)
            sources = {rename.get(sym, sym): updates_from_snapshots(capture_sessions(g)[0])
                       for sym, g in rows.groupby("symbol") if not rename or sym in rename}  # fmt: skip
        missing = sorted(src for src, dst in rename.items() if dst not in sources)
        if not sources or missing:
            raise SystemExit(f"--depth {path}: {missing or 'no symbol'} not in this capture")
    return DepthFeed(sources, speed=args.depth_speed, skip_every=args.depth_skip_every)


def _depth_as(pairs: list[str] | None) -> dict[str, str]:
    """--depth-as SUSHIUSDT=BTCUSDT ...: serve a captured symbol as one of the venue's markets."""
    out = {}
    for item in pairs or []:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise SystemExit(f"--depth-as {item!r}: expected CAPTURED=SERVED, e.g. SUSHIUSDT=BTCUSDT")
        out[src.upper()] = dst.upper()
    return out


def _cmd_record(args: argparse.Namespace) -> int:
    import asyncio

    from perpflow.data.record import run_recorder

    stats = asyncio.run(run_recorder(
        args.exchange, Path(args.store), args.symbols, venue_url=args.venue_url,
        duration=args.duration, levels=args.levels, cadence=args.cadence,
        flush_seconds=args.flush_seconds, status_every=args.status_every, liquidations=args.liquidations,
        stale_seconds=args.stale_seconds,
    ))  # fmt: skip
    liq = f", {stats.liquidations} liquidations" if args.liquidations else ""
    print(f"recorded {stats.snapshots} snapshots, {stats.diffs} diff levels, {stats.trades} trades{liq}, "
          f"{stats.resyncs} re-syncs, {stats.reconnects} reconnects into {args.store}")
    return 0


def _cmd_collect_liquidations(args: argparse.Namespace) -> int:
    import asyncio

    from perpflow.data.collect import run_collector

    stats = asyncio.run(run_collector(
        args.exchange, Path(args.store), symbols=args.symbols, venue_url=args.venue_url,
        duration=args.duration,
    ))  # fmt: skip
    print(f"stored {stats.stored} liquidations, {stats.duplicates} duplicates dropped, "
          f"{stats.reconnects} reconnects, {len(stats.gaps)} gaps recorded in {args.store}")  # fmt: skip
    return 0


def write_overlay(venue_url: str, out: Path, extra: dict | None = None) -> Path:
    """Write a Freqtrade config overlay pointing the binance exchange at `venue_url`."""
    from perpflow.venue.overlay import exchange_overlay

    overlay = exchange_overlay(venue_url)
    for key, value in (extra or {}).items():
        overlay[key] = value
    out.write_text(json.dumps(overlay, indent=2) + "\n")
    return out


def _cmd_venue_run(args: argparse.Namespace) -> int:
    """Start the venue, write the overlay, run the command with `{overlay}` replaced, stop.
    With --start the venue replays from that stored instant and the command runs on the same
    simulated clock (`perpflow.venue.simclock`), at --speed and with --skip-idle."""
    from perpflow.venue.server import VenueServer

    command = [c for c in args.command if c != "--"]
    if not command:
        print("perpflow venue run: give a command after --", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="perpflow-venue-") as tmp:
        clock, env = _sim_clock(args, Path(tmp))
        kwargs = {"clock": clock.time, "replay_date": args.start} if clock else {}
        keys, private = _venue_private(args)
        if args.live:  # a key pair for this run, handed to the command; dry_run off
            keys, env = _live_keys(keys, env, private, Path(tmp))
        mode = "replay" if clock else args.mode
        with VenueServer(Path(args.datadir), mode=mode, port=0, api_keys=keys, **private,
                         **kwargs) as venue:  # fmt: skip
            overlay = write_overlay(venue.url, Path(tmp) / "config.venue.json")
            command = [c.replace("{overlay}", str(overlay)) for c in command]
            if clock:
                command = [sys.executable, "-m", "perpflow.venue.simclock", *command]
            logging.getLogger(__name__).info("venue %s; running %s", venue.url, " ".join(command))
            return _run_child(command, env)


def _run_child(command: list[str], env: dict | None) -> int:
    """Run the command to its end; SIGTERM to `venue run` reaches it too (Ctrl-C reaches the
    whole process group anyway), so the bot never outlives its exchange."""
    import signal

    proc = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _live_keys(keys: dict | None, env: dict | None, private: dict, tmp: Path):
    """`venue run --live`: the venue's keys (a fresh pair unless --api-key-env gave one) and the
    child's environment with them as Freqtrade's exchange key and `dry_run` off; the ledger
    lives in the run's temp dir unless --state names one."""
    import os
    import secrets

    keys = keys or {secrets.token_hex(16): secrets.token_hex(32)}
    key, secret = next(iter(keys.items()))
    private.setdefault("state", None)
    private["state"] = private["state"] or tmp / "venue-ledger.sqlite"
    env = {**(env or os.environ), "FREQTRADE__EXCHANGE__KEY": key,
           "FREQTRADE__EXCHANGE__SECRET": secret, "FREQTRADE__DRY_RUN": "false"}  # fmt: skip
    return keys, env


def _sim_clock(args: argparse.Namespace, tmp: Path):
    """The shared clock and child environment for `venue run --start` (None, None without)."""
    if not args.start:
        return None, None
    import os

    import pandas as pd

    from perpflow.venue.simclock import ENV, SimClock

    origin = pd.Timestamp(args.start, tz="UTC") if pd.Timestamp(args.start).tzinfo is None \
        else pd.Timestamp(args.start).tz_convert("UTC")  # fmt: skip
    clock = SimClock.create(tmp / "clock", origin_ns=origin.value, speed=args.speed,
                            skip_idle=args.skip_idle)  # fmt: skip
    return clock, {**os.environ, ENV: clock.spec.to_env()}


def _cmd_plot_structure(args: argparse.Namespace) -> int:
    from perpflow.validation.structure_plot import plot_structure

    out = args.out or f"user_data/plot/structure-{args.pair.split('/')[0]}-{args.day}.png"
    print(f"wrote {plot_structure(Path(args.datadir), args.pair, args.day, Path(out))}")
    return 0


def _cmd_sessions_profile(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.validation.session_profile import session_profile

    table = session_profile(Path(args.datadir), args.pairs, args.start, args.end, Path(args.out))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(4).to_string())
    print(f"wrote {args.out}/session_profile.csv and session_profile.png")
    return 0


def _cmd_import_metrics(args: argparse.Namespace) -> int:
    from perpflow.data.binance_metrics import import_metrics

    for name, rows in import_metrics([Path(p) for p in args.files], Path(args.datadir)).items():
        print(f"{name}: {rows} rows")
    return 0


def _cmd_import_liquidations(args: argparse.Namespace) -> int:
    from perpflow.data.liquidations import read_forceorder_csv
    from perpflow.data.store import write_coverage, write_events

    for f in args.files:
        events = read_forceorder_csv(Path(f), exchange=args.exchange)
        parts = write_events(Path(args.store), "liquidations", events)
        if len(events):  # an export covers the span from its first to its last event
            write_coverage(Path(args.store), "liquidation", args.exchange,
                           events["ts_event"].iloc[0], events["ts_event"].iloc[-1])  # fmt: skip
        print(f"{f}: {len(events)} liquidations, {len(parts)} new part files")
    return 0


def _cmd_download_quarterlies(args: argparse.Namespace) -> int:
    import ccxt
    import pandas as pd

    from perpflow.data.quarterlies import download_quarterlies

    if args.venue_url:
        from perpflow.venue.overlay import ccxt_config

        ex = ccxt.binance(ccxt_config(args.venue_url))
    else:
        ex = getattr(ccxt, args.exchange)({"options": {"defaultType": "swap"}})
    until = pd.Timestamp(args.until, tz="UTC") if args.until else None
    written = download_quarterlies(ex, args.pairs, args.timeframe, pd.Timestamp(args.since, tz="UTC"),
                                   Path(args.datadir), until=until, progress=True)  # fmt: skip
    for symbol, rows in written.items():
        print(f"{symbol}: {rows} new candles")
    if not written:
        print(f"{ex.id} lists no dated futures for {', '.join(args.pairs)}; the basis features "
              "fall back to the premium index")  # fmt: skip
    return 0


def _cmd_report_derivatives(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.config import load_perpflow_config
    from perpflow.validation.derivatives_report import frequencies, month_chart

    cfg = load_perpflow_config(json.loads(Path(args.config).read_text()) if args.config else {})
    start, end = pd.Timestamp(args.start, tz="UTC"), pd.Timestamp(args.end, tz="UTC")
    table = frequencies(Path(args.datadir), args.pairs, start, end, cfg)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(f"{out}_frequencies.csv")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.map(lambda v: f"{v:.1%}" if isinstance(v, float) and v == v and v <= 1
                        else v).to_string())  # fmt: skip
    month = args.month or start.strftime("%Y-%m")
    for pair in args.pairs:
        png = month_chart(Path(args.datadir), pair, month,
                          Path(f"{out}_{pair.split('/')[0]}_{month}.png"), cfg,
                          store=Path(args.store) if args.store else None)  # fmt: skip
        print(f"wrote {png}")
    print(f"wrote {out}_frequencies.csv")
    return 0


def _load_trades(path: str):
    """Trades of a backtest result file, or of the newest one in a results folder."""
    from freqtrade.data.btanalysis import get_latest_backtest_filename, load_backtest_data

    p = Path(path)
    if p.is_dir():
        p = p / get_latest_backtest_filename(p)
    if not p.exists():
        raise SystemExit(f"{p}: no backtest result (run `make backtest` or freqtrade backtesting "
                         "--export trades first)")  # fmt: skip
    return load_backtest_data(p), p


def _cmd_stress(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.config import load_perpflow_config
    from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
    from perpflow.risk.stress import run_stress
    from perpflow.strategy.liquidation_signals import exchange_symbol
    from perpflow.validation.structure_plot import load_candles
    from perpflow.venue.markets import MarketBook

    cfg = load_perpflow_config(json.loads(Path(args.config).read_text()) if args.config else {})
    trades, source = _load_trades(args.backtest)
    r = cfg.risk
    book = MarketBook.load(Path(args.datadir))
    candles, allowed = {}, {}
    for pair in sorted(trades["pair"].unique()):
        candles[pair] = load_candles(Path(args.datadir), pair, "5m")
        sym = exchange_symbol(pair)
        mmr = max(r.maintenance_margin_rate, book.maint_margin_rate(sym) or 0.0)
        allowed[pair] = capped_leverage(
            r.max_leverage, book.max_leverage(sym) or r.max_leverage,
            liquidation_safe_leverage(r.min_stop_distance, maintenance_margin_rate=mmr,
                                      buffer=r.liquidation_buffer),
        )  # fmt: skip
    table = run_stress(trades, candles, allowed_leverage=allowed, wick=args.wick,
                       stop_distance=r.max_stop_distance, mmr=r.maintenance_margin_rate)  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".csv"), index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"stress test of {len(trades)} trades from {source.name} (+ the most leveraged "
              f"position the rules allow per pair)")  # fmt: skip
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    bad = table[table["liquidated"] > 0]
    if len(bad):
        print(f"FAIL: {len(bad)} scenario(s) liquidate positions the rules allow: "
              + ", ".join(f"{r.scenario} {r.pair}" for r in bad.itertuples()), file=sys.stderr)
        return 1
    print(f"OK: no scenario liquidates; smallest margin buffer {table['min_margin_buffer'].min():.2%}")
    return 0


def _backtest_stats(path: Path) -> tuple[str, dict]:
    """Strategy name and stats of a backtest result (Freqtrade's own loader)."""
    from freqtrade.data.btanalysis import load_backtest_stats

    return next(iter(load_backtest_stats(path).get("strategy", {}).items()), ("", {}))


def _cmd_risk_report(args: argparse.Namespace) -> int:
    from perpflow.validation.risk_report import risk_summary, trades_from_api

    stats: dict = {}
    if args.api_url:
        trades, start, locks = trades_from_api(args.api_url)
        source = args.api_url
    else:
        trades, path = _load_trades(args.backtest)
        name, stats = _backtest_stats(path)
        locks, start = stats.get("locks", []), float(stats.get("starting_balance", 0.0))
        source = path.name
    if not start > 0:
        raise SystemExit(f"{source}: no starting balance recorded; cannot express risk")
    summary = risk_summary(trades, starting_balance=start, locks=locks)
    print(f"risk report for {source} (starting balance {start:,.2f})")
    for key, value in summary.items():
        shown = f"{value:.2%}" if key in ("max_drawdown",) else (
            f"{value:,.2f}" if isinstance(value, float) else value)  # fmt: skip
        print(f"  {key:24s} {shown}")
    if not args.api_url:
        summary["cap"] = _print_cap(path, name, stats, start)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")
    return 0


def _print_cap(path: Path, name: str, stats: dict, start: float) -> dict:
    """Print the drawdowns against the hard cap and every trip/re-arm of a backtest result."""
    from perpflow.validation.risk_report import cap_summary, governor_history

    hist = governor_history(path, name, stats)
    cap = cap_summary(hist, starting_balance=start,
                      closed_drawdown=float(stats.get("max_drawdown_account", float("nan"))))  # fmt: skip
    print("drawdown against the hard cap")
    if hist is None:
        print("  (no governor history next to this result: governor off, --export none, or a "
              "result from before perpflow wrote one; only the closed-trade drawdown is known)")  # fmt: skip
    else:
        print(f"  {'hard cap':24s} {cap['hard_cap']:.2%}")
        print(f"  {'equity (open profit)':24s} {cap['equity_drawdown']:.2%} max, from the "
              "running peak of the whole run")  # fmt: skip
        print(f"  {'governor (its peak)':24s} {cap['governor_drawdown']:.2%} max, peak re-based "
              "only by re-arms")  # fmt: skip
    print(f"  {'closed trades (Freqtrade)':24s} {cap['closed_drawdown']:.2%} max_drawdown_account")
    for ev in cap["events"]:
        print(f"  {ev['event']:6s} {ev['time']}  drawdown {ev['drawdown']:.2%}  equity "
              f"{ev['equity']:,.2f}  {ev['note']}")  # fmt: skip
    if hist is not None and not cap["events"]:
        print("  the cap was never reached")
    return cap


def _cmd_validate(args: argparse.Namespace) -> int:
    from perpflow.validation import validate

    out = Path(args.out)
    if args.validate_cmd in ("shadow", "parity"):
        return _validate_parity(args, out)
    common = dict(config=Path(args.config), datadir=Path(getattr(args, "datadir", ".")),
                  pairs=args.pairs, out=out, workers=args.workers)  # fmt: skip
    if args.validate_cmd == "exchanges":
        from perpflow.validation.exchanges import compare

        venues = dict(v.split("=", 1) for v in args.venue)
        table = compare({k: Path(v) for k, v in venues.items()}, pairs=args.pairs,
                        timerange=args.timerange, timeframe=args.timeframe, out=out,
                        config=Path(args.config), workers=args.workers)  # fmt: skip
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print((out / "explanation.txt").read_text())
        print(f"table: {out / 'exchanges.csv'}")
        return 0
    if args.validate_cmd == "walk-forward":
        res = validate.walk_forward(start=args.start, end=args.end, train_months=args.train_months,
                                    test_months=args.test_months, purge=args.purge_days,
                                    hyperopt_epochs=args.hyperopt_epochs, **common)  # fmt: skip
        if len(res["parameters"]):
            print(res["parameters"].to_string())
        print(res["windows"][["window", "test", "trades", "profit_pct", "max_drawdown",
                              "sharpe", "profit_factor"]].to_string(index=False))  # fmt: skip
    else:
        res = validate.robustness(timerange=args.timerange, params=args.params, pct=args.pct,
                                  joint=args.joint, latency=not args.no_latency, **common)  # fmt: skip
        if len(res["verdict"]):
            print(res["verdict"].to_string(index=False))
        print(f"share of perturbed variants still profitable: {res['profitable_share']:.0%}")
    print(f"report: {out / 'report.html'}")
    return 0


def _validate_parity(args: argparse.Namespace, out: Path) -> int:
    """`validate shadow` (dry-run only) and `validate parity` (dry-run and/or live against the
    venue): replay stored hours with the bot on the simulated clock, backtest them, match."""
    import pandas as pd

    from perpflow.validation.parity import ParitySpec, run_parity

    if not (args.start or args.date):
        raise SystemExit(f"perpflow validate {args.validate_cmd}: give --start (or --date)")
    start = pd.Timestamp(args.start or args.date, tz="UTC")
    hours = args.hours if args.hours is not None else (args.minutes or 60.0) / 60
    configs = tuple(Path(c) for c in (args.config or ["config.json"]))
    spec = ParitySpec(datadir=Path(args.datadir), start=start, end=start + pd.Timedelta(hours=hours),
                      pairs=tuple(args.pairs), out=out, configs=configs, speed=args.speed,
                      throttle_secs=args.throttle)  # fmt: skip
    modes = tuple(getattr(args, "modes", None) or ("dry",))
    report = run_parity(spec, modes)
    for mode, r in report["modes"].items():
        print(f"{mode}: backtest {r['backtest_trades']} trades, bot {r['live_trades']}, matched "
              f"{r['matched']}; entry slippage median {r['slippage_bps_median']} bps; "
              f"{r['replayed_hours']:.1f} h in {r['real_seconds']:.0f} s")  # fmt: skip
        for d in r["differences"]:
            print(f"  {d['status']:13s} {d['pair']} {d['side']} {d['candle']}: {d['cause']}")
    print(f"report: {out / 'parity.md'}")
    return 0 if all(r["matched"] == r["backtest_trades"] == r["live_trades"]
                    for r in report["modes"].values()) else 1  # fmt: skip


def _merged_config(paths: list[str] | None) -> dict:
    """Later config files override earlier ones (Freqtrade's own merge)."""
    from freqtrade.misc import deep_merge_dicts

    merged: dict = {}
    for path in paths or ["config.json", "config.freqai.json"]:
        p = Path(path)
        if not p.exists():
            raise SystemExit(f"{p}: config file not found")
        merged = deep_merge_dicts(json.loads(p.read_text()), merged)
    return merged


def _models_dir(args: argparse.Namespace, config: dict) -> Path:
    """--models, else user_data/models/<freqai.identifier> of the config."""
    if args.models:
        return Path(args.models)
    ident = config.get("freqai", {}).get("identifier")
    if not ident:
        raise SystemExit("no --models and no freqai.identifier in the config (add -c config.freqai.json)")
    return Path(config.get("user_data_dir", "user_data")) / "models" / ident


def _cmd_importance(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.ai import importance as imp

    models = _models_dir(args, _merged_config(args.config))
    rows = imp.load_windows(models)
    table = imp.rank_table(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "importance.csv", index=False)
    imp.window_scores(rows).to_csv(out / "windows.csv", index=False)
    png = imp.importance_png(table, out / "importance.png", top=args.top, rows=rows)
    with pd.option_context("display.width", 160):
        print(table.head(args.top).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"{rows['window'].nunique()} windows, ranked by mean {table.attrs['ranked_by']}; "
          f"{int(table['unstable'].sum())} feature(s) with unstable rank")
    print(f"table: {out / 'importance.csv'}  picture: {png}")
    return 0


def _cmd_validate_freqai(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.config import load_perpflow_config
    from perpflow.validation.freqai_report import freqai_study

    config = _merged_config(args.config)
    trades, path = _load_trades(args.backtest)
    pairs = args.pairs or sorted(trades["pair"].unique())
    res = freqai_study(
        models_dir=_models_dir(args, config), trades=trades, datadir=Path(args.datadir),
        pairs=pairs, cfg=load_perpflow_config(config), out=Path(args.out),
        starting_balance=float(config.get("dry_run_wallet", 10000)),
        threshold=float(config.get("freqai", {}).get("win_threshold", 0.5)),
        timeframe=config.get("timeframe", "5m"),
    )  # fmt: skip
    with pd.option_context("display.width", 160):
        print(res["oos"][["pair", "test_start", "setups", "positives", "predicted", "precision",
                          "recall", "base_rate"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(res["windows"][["window", "test", "trades", "profit_pct", "max_drawdown",
                              "sharpe"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    m = res["model"]
    print(f"model out-of-sample: precision {m['precision']:.3f} recall {m['recall']:.3f} "
          f"base rate {m['base_rate']:.3f} over {m['setups']} setups; backtest {path.name}")
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def _recorded_books(store: Path, args: argparse.Namespace):
    """Snapshots of `args.symbol` recorded in an event store (`perpflow record`), as `ts` rows."""
    import pandas as pd

    from perpflow.strategy.book_signals import load_books

    since = pd.Timestamp(args.since, tz="UTC") if args.since else pd.Timestamp(0, tz="UTC")
    books = load_books(store, args.exchange, args.symbol, since)
    if books.empty:
        raise SystemExit(f"{store}: no recorded {args.exchange} books for {args.symbol} "
                         f"(record them with `perpflow record`)")  # fmt: skip
    books = books.rename(columns={"ts_recv": "ts"}).drop(columns=["ts_event"]).sort_values("ts", kind="stable")
    return books[books["ts"] <= pd.Timestamp(args.until, tz="UTC")] if args.until else books


def _heatmap_events(args: argparse.Namespace):
    """--events: marks from a `perpflow label` parquet, or a CSV of ts,text; None if not given."""
    import pandas as pd

    if not args.events:
        return None
    ev = Path(args.events)
    if not ev.exists():
        raise SystemExit(f"--events {ev}: no such file (a `perpflow label` parquet, or a CSV of ts,text)")
    if ev.suffix != ".parquet":
        return pd.read_csv(ev)
    from perpflow.validation.heatmap import events_from_labels

    try:
        return events_from_labels(pd.read_parquet(ev), args.pair, args.timeframe)
    except ValueError as exc:
        raise SystemExit(f"--events {ev}: {exc}") from None


def _cmd_heatmap(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.features.orderbook import book_from_wide, capture_sessions
    from perpflow.validation.heatmap import heatmap_html, heatmap_png

    src = Path(args.book)
    if not src.exists():
        raise SystemExit(f"{src}: no such book file (parquet with ts, bid_px_0, bid_sz_0, ...) or event store")
    store = src if src.is_dir() else None
    books = _recorded_books(store, args) if store is not None else pd.read_parquet(src)
    rows = books[books["symbol"] == args.symbol] if "symbol" in books.columns else books
    if rows.empty:
        found = sorted(books["symbol"].unique()) if "symbol" in books.columns else []
        raise SystemExit(f"{src}: no rows for symbol {args.symbol!r} (found {found})")
    sessions = capture_sessions(rows)
    if args.session >= len(sessions):
        raise SystemExit(f"{src}: {args.symbol} has {len(sessions)} capture(s); --session 0..{len(sessions) - 1}")
    if len(sessions) > 1:
        print(f"{src}: {len(sessions)} separate captures of {args.symbol}; drawing --session {args.session}")
    book = book_from_wide(sessions[args.session])

    def prints(path, kind):
        if not path:
            if store is None:
                return None
            from perpflow.data.store import read_new_parts

            f = read_new_parts(store, kind, exchange=args.exchange, symbol=args.symbol, since=None)
            f = f.rename(columns={"ts_event": "ts"})
            if "amount" not in f.columns and "qty" in f.columns:  # liquidations are stored with qty
                f = f.rename(columns={"qty": "amount"})
            return f if len(f) else None
        f = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
        return f[f["symbol"] == args.symbol] if "symbol" in f.columns else f

    trades, liqs = prints(args.trades, "trades"), prints(args.liquidations, "liquidations")
    events = _heatmap_events(args)
    span = pd.to_datetime(book.ts, utc=True)
    title = (args.title or f"{args.symbol} resting liquidity, {span.min():%Y-%m-%d %H:%M:%S}"
             f"..{span.max():%H:%M:%S} UTC ({book.bid_px.shape[1]} levels a side)")  # fmt: skip
    out = Path(args.out)
    png = heatmap_png(book, out / f"heatmap_{args.symbol}.png", title=title, trades=trades,
                      liquidations=liqs, events=events, time_bins=args.time_bins,
                      price_bins=args.price_bins)  # fmt: skip
    page = heatmap_html(book, out / f"heatmap_{args.symbol}.html", title=title, trades=trades,
                        liquidations=liqs, events=events, time_bins=args.time_bins,
                        price_bins=args.price_bins)  # fmt: skip
    print(f"{len(book)} snapshots; picture: {png}  interactive: {page}")
    return 0


def _cmd_label(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.config import load_perpflow_config
    from perpflow.labels.dataset import label_pair, summarise

    cfg = load_perpflow_config(json.loads(Path(args.config).read_text()) if args.config else {})
    data = pd.concat([label_pair(Path(args.datadir), p, cfg) for p in args.pairs],
                     ignore_index=True)  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data.to_parquet(out, index=False)
    summary = summarise(data)
    summary.to_csv(out.with_suffix(".summary.csv"), index=False)
    with pd.option_context("display.width", 160):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {len(data)} labelled events to {out}")
    return 0


def _cmd_venue_markets_import(args: argparse.Namespace) -> int:
    from perpflow.venue.user_markets import import_markets

    for f in args.files:
        try:
            summary = import_markets(Path(f), Path(args.datadir))
        except ValueError as exc:
            raise SystemExit(f"venue markets import: {exc}") from None
        print(f"{f} -> {summary}")
    return 0


def _cmd_venue_markets_list(args: argparse.Namespace) -> int:
    """One line per perpetual served over --datadir: where its spec comes from, its filters,
    and whether the data dir stores it; derived specs also print what was assumed."""
    from perpflow.venue.markets import MarketBook
    from perpflow.venue.spec_derive import stored_perpetuals

    try:
        book = MarketBook.load(Path(args.datadir))
    except ValueError as exc:
        raise SystemExit(f"venue markets list: {exc}") from None
    stored = set(stored_perpetuals(Path(args.datadir) / "futures"))
    print(f"{'symbol':<16}{'source':<10}{'status':<10}{'tick':>12}{'step':>12}{'minQty':>12}"
          f"{'minNotional':>12}  data")  # fmt: skip
    for sym, spec in book.items():
        if sym in book.dated or (args.stored and book.file_prefix(sym) not in stored):
            continue
        f = {k: book.filter_value(sym, t, k) for t, k in (("PRICE_FILTER", "tickSize"),
             ("LOT_SIZE", "stepSize"), ("LOT_SIZE", "minQty"), ("MIN_NOTIONAL", "notional"))}  # fmt: skip
        print(f"{sym:<16}{book.sources[sym]:<10}{spec['status']:<10}{f['tickSize']:>12}"
              f"{f['stepSize']:>12}{f['minQty']:>12}{f['notional']:>12}  "
              f"{'stored' if book.file_prefix(sym) in stored else '-'}")  # fmt: skip
        for field, value in book.derived.get(sym, {}).items():
            print(f"    assumed {field}: {value}")
    return 0


def _cmd_config_overlay(args: argparse.Namespace) -> int:
    out = write_overlay(args.venue_url, Path(args.out))
    print(f"wrote {out}")
    return 0


def _pairs_range_args(p: argparse.ArgumentParser) -> None:
    """--pairs, --start, --end (UTC dates, end exclusive) and --datadir."""
    p.add_argument("--pairs", nargs="+", required=True)
    p.add_argument("--start", required=True, help="UTC date, inclusive")
    p.add_argument("--end", required=True, help="UTC date, exclusive")
    p.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perpflow", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="cmd", required=True)

    demo = sub.add_parser("demo-data", help="write the SYNTHETIC demo market (Freqtrade layout)")
    demo.add_argument("--outdir", default=str(DEFAULT_DEMO_DIR))
    demo.add_argument("--days", type=int, default=150)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_cmd_demo_data)

    dbk = sub.add_parser("demo-books", help="SYNTHETIC recorded books for the demo market (try filters.book)")
    dbk.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    dbk.add_argument("--pairs", nargs="+", default=["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"])
    dbk.add_argument("--start", required=True, help="UTC, e.g. 2026-06-01")
    dbk.add_argument("--end", required=True, help="UTC, exclusive")
    dbk.add_argument("--exchanges", nargs="+", default=["binance", "bybit"])
    dbk.add_argument("--store", default=None, help="event store root (default <datadir>/store)")
    dbk.set_defaults(func=_cmd_demo_books)

    venue = sub.add_parser("venue", help="the local Binance USDT-M compatible exchange")
    vsub = venue.add_subparsers(dest="venue_cmd", required=True)
    for name, func in (("serve", _cmd_venue_serve), ("run", _cmd_venue_run)):
        p = vsub.add_parser(name)
        p.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR), help="Freqtrade data dir")
        p.add_argument("--mode", choices=["history", "replay"], default="history")
        p.add_argument("--runway-days", type=float, default=1.0, help="replay: future to play")
        p.add_argument("--api-key-env", default=None, metavar="NAME",
                       help="serve the signed private API and matching engine for the key in env var "
                            "NAME and the secret in NAME with _KEY -> _SECRET (e.g. "
                            "PERPFLOW_VENUE_API_KEY / PERPFLOW_VENUE_API_SECRET)")
        p.add_argument("--state", default=None,
                       help="ledger file (sqlite) the private side persists to and resumes from")
        p.add_argument("--wallet", type=float, default=10_000.0, help="starting USDT per account")
        p.add_argument("--maker-fee", type=float, default=0.0002)
        p.add_argument("--taker-fee", type=float, default=0.0005)
        p.set_defaults(func=func)
        if name == "serve":
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=8999, help="0 = ephemeral")
            p.add_argument("--liquidations", default=None,
                           help="forceOrder CSV or event store to stream as !forceOrder@arr")
            p.add_argument("--liquidation-speed", type=float, default=None,
                           help="replay stored liquidations from the first subscriber, N x fast "
                                "(default: on the replay clock in replay mode, 1x otherwise)")  # fmt: skip
            p.add_argument("--depth", default=None,
                           help="stream <symbol>@depth diffs: 'synthetic', a snapshots parquet, or a "
                                "raw Binance USDT-M capture (.jsonl.zst, replayed with its own update ids)")
            p.add_argument("--depth-as", nargs="+", default=None, metavar="CAPTURED=SERVED",
                           help="serve a captured symbol as one of the venue's markets, e.g. SUSHIUSDT=BTCUSDT "
                                "(only these are served)")
            p.add_argument("--depth-speed", type=float, default=1.0)
            p.add_argument("--depth-minutes", type=float, default=60.0,
                           help="synthetic depth: minutes of 100 ms diffs (at 1x speed)")
            p.add_argument("--depth-skip-every", type=int, default=0,
                           help="withhold every Nth depth message (sequence-gap drill)")
        else:
            p.add_argument("--start", default=None,
                           help="replay from this stored UTC instant, the command on the same "
                                "simulated clock (e.g. 2026-06-10T00:00)")
            p.add_argument("--speed", type=float, default=1.0, help="with --start: clock speed")
            p.add_argument("--skip-idle", action="store_true",
                           help="with --start: the command's idle waits pass at once")
            p.add_argument("--live", action="store_true",
                           help="the command trades live against the venue: a key pair for this "
                                "run goes to its FREQTRADE__EXCHANGE__KEY/SECRET, dry_run off")
            p.add_argument("command", nargs=argparse.REMAINDER, help="-- command {overlay} ...")
    vm = vsub.add_parser("markets", help="the contract specs the venue serves")
    vmsub = vm.add_subparsers(dest="markets_cmd", required=True)
    vmi = vmsub.add_parser("import", help="real specs from a ccxt markets dump or a Binance "
                           "exchangeInfo JSON into <datadir>/venue_markets.json")  # fmt: skip
    vmi.add_argument("files", nargs="+")
    vmi.add_argument("--datadir", default="user_data/data/binance", help="the venue's data dir")
    vmi.set_defaults(func=_cmd_venue_markets_import)
    vml = vmsub.add_parser("list", help="markets served over a data dir, with each spec's source")
    vml.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    vml.add_argument("--stored", action="store_true", help="only markets the data dir stores")
    vml.set_defaults(func=_cmd_venue_markets_list)

    plot = sub.add_parser("plot", help="pictures of what the features see")
    psub = plot.add_subparsers(dest="plot_cmd", required=True)
    ps = psub.add_parser("structure", help="candles with pools, sweeps, FVGs, profile, sessions")
    ps.add_argument("--pair", required=True, help="e.g. BTC/USDT:USDT")
    ps.add_argument("--day", required=True, help="UTC date, e.g. 2025-03-10")
    ps.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    ps.add_argument("--out", default=None, help="PNG path (default user_data/plot/...)")
    ps.set_defaults(func=_cmd_plot_structure)

    sess = sub.add_parser("sessions", help="session statistics")
    ssub = sess.add_subparsers(dest="sessions_cmd", required=True)
    sp = ssub.add_parser("profile", help="volatility, volume, liquidity, slippage per NY block")
    _pairs_range_args(sp)
    sp.add_argument("--out", default="user_data/plot/session_profile")
    sp.set_defaults(func=_cmd_sessions_profile)

    imp = sub.add_parser("import", help="import external data (validated, never rewritten)")
    isub = imp.add_subparsers(dest="import_cmd", required=True)
    im = isub.add_parser("metrics", help="Binance daily metrics CSVs -> open_interest files")
    im.add_argument("files", nargs="+")
    im.add_argument("--datadir", default="user_data/data/binance")
    im.set_defaults(func=_cmd_import_metrics)
    il = isub.add_parser("liquidations", help="forceOrder CSV exports -> the event store")
    il.add_argument("files", nargs="+")
    il.add_argument("--store", default="user_data/data/binance/store",
                    help="event store (LiquiditySweep reads <datadir>/store)")
    il.add_argument("--exchange", default="binance")
    il.set_defaults(func=_cmd_import_liquidations)

    col = sub.add_parser("collect", help="record live streams into the event store")
    csub0 = col.add_subparsers(dest="collect_cmd", required=True)
    cl = csub0.add_parser("liquidations", help="ccxt.pro watch_liquidations -> the event store")
    cl.add_argument("--exchange", default="binance", help="binance, bybit or okx")
    cl.add_argument("--symbols", nargs="*", default=None,
                    help="unified symbols (default: the all-market stream, Binance)")
    cl.add_argument("--store", default="user_data/data/binance/store",
                    help="event store (LiquiditySweep reads <datadir>/store)")
    cl.add_argument("--venue-url", default=None, help="collect from the local exchange instead")
    cl.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    cl.set_defaults(func=_cmd_collect_liquidations)

    dl = sub.add_parser("download", help="download what freqtrade download-data cannot")
    dsub = dl.add_subparsers(dest="download_cmd", required=True)
    dq = dsub.add_parser("quarterlies", help="dated quarterly futures candles (for the basis)")
    dq.add_argument("--pairs", nargs="+", required=True, help="perps, e.g. BTC/USDT:USDT")
    dq.add_argument("--timeframe", default="1h")
    dq.add_argument("--since", required=True, help="UTC date")
    dq.add_argument("--until", default=None, help="UTC date (default: now)")
    dq.add_argument("--datadir", default="user_data/data/binance")
    dq.add_argument("--exchange", default="binance")
    dq.add_argument("--venue-url", default=None, help="download from the local exchange instead")
    dq.set_defaults(func=_cmd_download_quarterlies)

    rep = sub.add_parser("report", help="data reports with pictures")
    rsub = rep.add_subparsers(dest="report_cmd", required=True)
    rd = rsub.add_parser("derivatives", help="funding extremes, OI regimes, basis, liquidations")
    _pairs_range_args(rd)
    rd.add_argument("--month", default=None, help="month to chart, e.g. 2025-03 (default: start)")
    rd.add_argument("--store", default=None, help="event store (default <datadir>/store)")
    rd.add_argument("--config", default="config.json", help="settings from its perpflow section")
    rd.add_argument("--out", default="user_data/plot/derivatives")
    rd.set_defaults(func=_cmd_report_derivatives)

    st = sub.add_parser("stress", help="can a wick liquidate what the rules allow? (exit 1 if so)")
    st.add_argument("--backtest", default="user_data/backtest_results",
                    help="backtest result file or folder (newest result)")  # fmt: skip
    st.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    st.add_argument("--config", default="config.json", help="settings from its perpflow section")
    st.add_argument("--wick", type=float, default=0.05, help="adverse wick size (0.05 = 5%%)")
    st.add_argument("--out", default="user_data/plot/stress")
    st.set_defaults(func=_cmd_stress)

    lb = sub.add_parser("label", help="labelled event dataset (sweeps, clusters, entries)")
    lb.add_argument("--pairs", nargs="+", required=True)
    lb.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    lb.add_argument("--config", default="config.json")
    lb.add_argument("--out", default="user_data/labels/events.parquet")
    lb.set_defaults(func=_cmd_label)

    rk = sub.add_parser("risk", help="risk views")
    rksub = rk.add_subparsers(dest="risk_cmd", required=True)
    rr = rksub.add_parser("report", help="exposure, leverage, funding paid, drawdown")
    rr.add_argument("--backtest", default="user_data/backtest_results")
    rr.add_argument("--api-url", default=None, help="a running bot, e.g. http://127.0.0.1:8080")
    rr.add_argument("--out", default=None, help="also write the summary as JSON")
    rr.set_defaults(func=_cmd_risk_report)

    val = sub.add_parser("validate", help="walk-forward and robustness studies with reports")
    vsub = val.add_subparsers(dest="validate_cmd", required=True)
    for name in ("walk-forward", "robustness"):
        v = vsub.add_parser(name)
        v.add_argument("--pairs", nargs="+", required=True)
        v.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
        v.add_argument("--config", default="config.json")
        v.add_argument("--out", required=True, help="study folder (resumable)")
        v.add_argument("--workers", type=int, default=2, help="parallel backtests")
        v.set_defaults(func=_cmd_validate)
        if name == "walk-forward":
            v.add_argument("--start", required=True)
            v.add_argument("--end", required=True)
            v.add_argument("--train-months", type=int, default=3)
            v.add_argument("--test-months", type=int, default=1)
            v.add_argument("--purge-days", type=int, default=2,
                           help="gap between train and test (>= the indicator warm-up)")
            v.add_argument("--hyperopt-epochs", type=int, default=0,
                           help="search parameters on each train window with Freqtrade's "
                                "hyperopt (0 = evaluate the config as given)")  # fmt: skip
        else:
            v.add_argument("--timerange", required=True, help="YYYYMMDD-YYYYMMDD")
            v.add_argument("--params", nargs="*", default=None,
                           help="dotted parameter paths (default: every numeric one)")
            v.add_argument("--pct", type=float, default=0.10)
            v.add_argument("--joint", type=int, default=0, help="random joint perturbations")
            v.add_argument("--no-latency", action="store_true")
    ve = vsub.add_parser("exchanges", help="the same settings on each exchange's data")
    ve.add_argument("--venue", action="append", required=True,
                    help="name=datadir, e.g. binance=../shared/data/binance (repeat)")
    ve.add_argument("--pairs", nargs="+", required=True)
    ve.add_argument("--timerange", required=True)
    ve.add_argument("--timeframe", default="15m", help="a timeframe every venue has or can build")
    ve.add_argument("--config", default="config.json")
    ve.add_argument("--out", required=True)
    ve.add_argument("--workers", type=int, default=2)
    ve.set_defaults(func=_cmd_validate)
    for name, help_ in (("shadow", "dry-run on replayed stored hours vs the backtest of them"),
                        ("parity", "dry-run and live (against the local exchange) on replayed "
                                   "stored hours vs the backtest of them, trade by trade")):
        vs = vsub.add_parser(name, help=help_)
        vs.add_argument("--start", default=None, help="stored UTC instant to replay from")
        vs.add_argument("--date", default=None, help="(shadow) stored UTC day, from 00:00")
        vs.add_argument("--hours", type=float, default=None, help="replayed hours (default 1)")
        vs.add_argument("--minutes", type=float, default=None, help="(shadow) replayed minutes")
        vs.add_argument("--pairs", nargs="+", required=True)
        vs.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
        vs.add_argument("-c", "--config", action="append", default=None,
                        help="config files as given to freqtrade (default config.json)")
        vs.add_argument("--speed", type=float, default=1.0, help="simulated clock speed")
        vs.add_argument("--throttle", type=int, default=None,
                        help="the bot's process_throttle_secs (default: the config's)")
        vs.add_argument("--out", required=True)
        if name == "parity":
            vs.add_argument("--modes", nargs="+", choices=["dry", "live"], default=["dry", "live"])
        vs.set_defaults(func=_cmd_validate, workers=1)

    vf = vsub.add_parser("freqai", help="report a FreqAI backtest's own walk-forward windows")
    vf.add_argument("-c", "--config", action="append", default=None,
                    help="config files as given to freqtrade (default config.json + config.freqai.json)")
    vf.add_argument("--models", default=None, help="FreqAI model folder (default from identifier)")
    vf.add_argument("--backtest", default="user_data/backtest_results",
                    help="the FreqAI backtest's result file or folder (newest result)")
    vf.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    vf.add_argument("--pairs", nargs="*", default=None, help="default: the backtest's pairs")
    vf.add_argument("--out", required=True)
    vf.set_defaults(func=_cmd_validate_freqai)

    rec = sub.add_parser("record", help="record order books (ccxt.pro) into the event store")
    rec.add_argument("--exchange", default="binance")
    rec.add_argument("--symbols", nargs="+", required=True, help="unified, e.g. BTC/USDT:USDT")
    rec.add_argument("--store", default="user_data/data/binance/store")
    rec.add_argument("--venue-url", default=None, help="record from the local exchange instead")
    rec.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    rec.add_argument("--levels", type=int, default=25)
    rec.add_argument("--cadence", type=float, default=1.0, help="seconds between snapshots")
    rec.add_argument("--flush-seconds", type=float, default=1.0, help="at most this much is lost on kill -9")
    rec.add_argument("--status-every", type=float, default=30.0)
    rec.add_argument("--liquidations", action="store_true",
                     help="also record the symbols' liquidations (as `perpflow collect liquidations`)")
    rec.add_argument("--stale-seconds", type=float, default=10.0,
                     help="a book unchanged this long is recorded as a 'stale feed' gap")
    rec.set_defaults(func=_cmd_record)

    hm = sub.add_parser("heatmap", help="resting liquidity over price and time (PNG + HTML)")
    hm.add_argument("--book", required=True, help="snapshots parquet (ts, symbol, bid_px_0, bid_sz_0, ...), "
                    "or an event store recorded by `perpflow record` (its trades and liquidations too)")
    hm.add_argument("--exchange", default="binance", help="store: whose books")
    hm.add_argument("--since", default=None, help="store: from this UTC time (e.g. 2026-11-26T10:00)")
    hm.add_argument("--until", default=None, help="store: up to this UTC time")
    hm.add_argument("--symbol", required=True)
    hm.add_argument("--session", type=int, default=0, help="which capture, if the file holds several")
    hm.add_argument("--trades", default=None, help="trades CSV/parquet (ts, side, price, amount)")
    hm.add_argument("--liquidations", default=None, help="liquidations CSV/parquet (same columns)")
    hm.add_argument("--events", default=None, help="a `perpflow label` parquet (liquidation-cluster moves, "
                    "sweeps, entries with their outcome) or a CSV of ts,text lines to mark")
    hm.add_argument("--pair", default=None, help="label parquet: this pair's events (e.g. BTC/USDT:USDT)")
    hm.add_argument("--timeframe", default="5m", help="label parquet: candle timeframe")
    hm.add_argument("--time-bins", type=int, default=300)
    hm.add_argument("--price-bins", type=int, default=120)
    hm.add_argument("--title", default=None)
    hm.add_argument("--out", default="user_data/plot/heatmap")
    hm.set_defaults(func=_cmd_heatmap)

    im = sub.add_parser("importance", help="feature importance across FreqAI walk-forward windows")
    im.add_argument("-c", "--config", action="append", default=None,
                    help="config files (default config.json + config.freqai.json)")
    im.add_argument("--models", default=None, help="FreqAI model folder (default from identifier)")
    im.add_argument("--top", type=int, default=20)
    im.add_argument("--out", default="user_data/plot/importance")
    im.set_defaults(func=_cmd_importance)

    cfg = sub.add_parser("config", help="config helpers")
    csub = cfg.add_subparsers(dest="config_cmd", required=True)
    ov = csub.add_parser("overlay", help="write the exchange overlay for a running venue")
    ov.add_argument("--venue-url", required=True)
    ov.add_argument("--out", default="config.local.json")
    ov.set_defaults(func=_cmd_config_overlay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
