"""Every command and flag of the former single-module CLI still parses to its handler, `perpflow
--help` lists the groups, the console script and `python -m perpflow.cli` run, and the modules
stay small (CLI modules <= 250 lines, every perpflow module <= 400)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perpflow.cli import build_parser
from tests.conftest import REPO

# one command line per command of the former perpflow/cli.py, with its flags
FORMER_COMMANDS = [
    "demo-data --outdir d --days 30 --seed 1",
    "demo-books --start 2026-06-01 --end 2026-06-02 --datadir d --pairs A B --exchanges binance --store s",
    "venue serve --datadir d --mode replay --runway-days 2 --api-key-env K --state s --wallet 5 "
    "--maker-fee 0.0001 --taker-fee 0.0004 --host 127.0.0.1 --port 0 --liquidations l "
    "--liquidation-speed 2 --depth synthetic --depth-as A=B --depth-speed 2 --depth-minutes 1 "
    "--depth-skip-every 5",
    "venue run --datadir d --mode history --start 2026-06-10T00:00 --speed 2 --skip-idle --live "
    "-- freqtrade backtesting -c {overlay}",
    "venue markets import a.json --datadir d",
    "venue markets list --datadir d --stored",
    "config overlay --venue-url http://127.0.0.1:8999 --out o.json",
    "collect liquidations --exchange binance --symbols A --store s --venue-url u --duration 2",
    "download quarterlies --pairs A --timeframe 1h --since 2025-01-01 --until 2025-02-01 "
    "--datadir d --exchange binance --venue-url u",
    "stress --backtest b --datadir d --config c.json --wick 0.05 --out o",
    "risk report --backtest b --api-url u --out o",
    "validate walk-forward --pairs A --datadir d --config c --out o --workers 1 --start 2025-01-01 "
    "--end 2025-06-01 --train-months 3 --test-months 1 --purge-days 2 --hyperopt-epochs 0 "
    "--scheduler tcp://10.0.0.1:8786",
    "validate robustness --pairs A --config c --out o --timerange 20250601-20250701 --params a.b "
    "--pct 0.1 --joint 2 --no-latency",
    "validate exchanges --venue a=b --venue c=d --pairs A --timerange 20250601-20250701 "
    "--timeframe 15m --config c --out o --workers 1 --scheduler local",
    "validate shadow --start 2026-06-10T06:00 --date 2026-06-10 --hours 1 --minutes 30 --pairs A "
    "--datadir d -c c.json --speed 2 --throttle 5 --out o",
    "validate parity --start 2026-06-10T06:00 --hours 1 --pairs A -c c.json --out o --modes dry",
    "validate freqai -c a.json -c b.json --models m --backtest b --datadir d --pairs A --out o",
    "label --pairs A --datadir d --config c.json --out o.parquet",
    "plot structure --pair A --day 2025-03-10 --datadir d --out o.png",
    "sessions profile --pairs A --start 2025-01-01 --end 2025-02-01 --datadir d --out o",
    "import metrics f.csv --datadir d",
    "import liquidations f.csv --store s --exchange binance",
    "report derivatives --pairs A --start 2025-01-01 --end 2025-02-01 --month 2025-01 --store s "
    "--config c.json --out o",
    "importance -c a.json --models m --top 5 --out o",
    "record --exchange binance --symbols A --store s --venue-url u --duration 1 --levels 5 "
    "--cadence 1 --flush-seconds 1 --status-every 5 --liquidations",
    "heatmap --book b --exchange binance --since 2026-11-26T10:00 --until 2026-11-26T11:00 "
    "--symbol S --session 0 --trades t --liquidations l --events e --pair A --timeframe 5m "
    "--time-bins 10 --price-bins 10 --title T --out o",
    "config check -c config.json -c config.replay.json",
    # issue 16's research group
    "research events --datadir d --pairs A --timeframe 5m --timerange 20250101-20250201 "
    "--draws 100 --min-events 10 --fee 0.0005 --seed 1 --top 5 --out o",
    "research patterns --events e.parquet --datadir d --timeframe 5m --draws 100 --min-count 10 "
    "--out o --seed 1",
    "research select plan --candidates c.json --out o --datadir d --pairs A --config c.json "
    "--workers 1 --development 2025-01-01..2025-09-30 --confirmation 2025-10-01..2026-02-18 "
    "--ledger l.jsonl",
    "research select confirm --selection s.json --datadir d --ledger l.jsonl",
    "execution calibrate --books b.parquet --exchange bybit --pair BTC/USDT:USDT --out o.json "
    "--min-snapshots 20 --cadence 1",
    "execution blocks --datadir d --pair BTC/USDT:USDT --timeframe 15m --model m.json "
    "--notional 20000 --latency 1 --floor 0.5 --out r.md",
]


@pytest.mark.parametrize("line", FORMER_COMMANDS, ids=lambda s: " ".join(s.split()[:2]))
def test_former_commands_and_flags_parse(line):
    args = build_parser().parse_args(line.split())
    assert callable(args.func) and args.prog.startswith("perpflow ")


def test_help_lists_the_groups():
    text = build_parser().format_help()
    for group in (
        "data",
        "store",
        "venue",
        "record",
        "reports",
        "risk",
        "execution",
        "validate",
        "research",
        "ai",
        "config",
    ):
        assert f"\n  {group} " in text, group


@pytest.mark.parametrize("entry", [[str(Path(sys.executable).parent / "perpflow")],
                                   [sys.executable, "-m", "perpflow.cli"]])  # fmt: skip
def test_entry_points_run(entry):
    proc = subprocess.run([*entry, "venue", "--help"], capture_output=True, text=True, check=True)
    assert "serve" in proc.stdout and "markets" in proc.stdout


# modules allowed over 400 lines (none: data/record.py was split in issue 15, item 3); the test
# fails while a listed module is small again
KNOWN_OVER: set[str] = set()


def test_modules_are_small():
    root = REPO / "perpflow"
    sizes = {
        p.relative_to(root).as_posix(): len(p.read_text().splitlines()) for p in root.rglob("*.py")
    }
    over = {p for p, n in sizes.items() if n > 400}
    assert over <= KNOWN_OVER and KNOWN_OVER <= over | (KNOWN_OVER - set(sizes)), over
    assert not {p: n for p, n in sizes.items() if p.startswith("cli/") and n > 250}
