"""Store readers in `perpflow.data.readers`: the one place stored records become feature inputs,
and the layering around them (strategies read the store only through them; features read no
files)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.readers import book_snapshots, load_liquidations, store_prints
from perpflow.data.store import write_events

REPO = Path(__file__).resolve().parents[2]
T0 = pd.Timestamp("2026-03-02 13:00", tz="UTC")


def _book(root, n=10):
    ts = T0 + pd.to_timedelta(np.arange(n), unit="s")
    rows = {"exchange": "binance", "symbol": "BTCUSDT", "ts_event": ts - pd.Timedelta("50ms"), "ts_recv": ts,
            "nonce": 1.0, "bid_px_0": 99.0, "bid_sz_0": 1.0, "ask_px_0": 101.0, "ask_sz_0": 1.0}  # fmt: skip
    write_events(root, "book", pd.DataFrame(rows), time_col="ts_recv")


def test_book_snapshots_are_sampling_times_without_those_inside_gaps(tmp_path):
    _book(tmp_path)
    write_events(tmp_path, "book_gaps", pd.DataFrame({
        "exchange": ["binance"], "symbol": ["BTCUSDT"], "ts_event": [T0 + pd.Timedelta("2s")],
        "ts_recv": [T0 + pd.Timedelta("3s")], "reason": ["diff chain"], "stream": ["diffs"]}))  # fmt: skip
    snaps = book_snapshots(tmp_path, "binance", "BTCUSDT", until=T0 + pd.Timedelta("6s"))
    assert snaps["ts"].tolist() == [T0 + pd.Timedelta(seconds=s) for s in (0, 1, 4, 5, 6)]
    assert {"ts", "ts_event", "bid_px_0", "ask_sz_0", "symbol"} <= set(snaps.columns)


def test_store_prints_name_a_liquidations_qty_amount(tmp_path):
    ts = pd.Series([T0, T0 + pd.Timedelta("1s")])
    write_events(tmp_path, "liquidations", pd.DataFrame({
        "exchange": "binance", "symbol": "BTCUSDT", "side": ["buy", "sell"], "price": 100.0, "qty": [2.0, 3.0],
        "notional": [200.0, 300.0], "ts_event": ts, "ts_recv": ts + pd.Timedelta("1s")}))  # fmt: skip
    p = store_prints(tmp_path, "liquidations", "binance", "BTCUSDT")
    assert list(p.columns) == ["ts", "side", "price", "amount"] and p["amount"].tolist() == [
        2.0,
        3.0,
    ]
    assert p["ts"].tolist() == ts.tolist(), "exchange time"
    assert store_prints(tmp_path, "trades", "binance", "BTCUSDT") is None


def test_load_liquidations_without_a_store_is_empty_in_the_schema(tmp_path):
    ev, spans = load_liquidations(tmp_path / "none", "binance", "BTCUSDT", T0)
    assert ev.empty and {"qty", "notional", "ts_event"} <= set(ev.columns) and spans.shape == (0, 2)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_strategies_read_the_store_through_the_data_readers():
    users = [
        *sorted((REPO / "perpflow" / "strategy").glob("*.py")),
        *sorted((REPO / "strategies").glob("*.py")),
    ]
    direct = [p.name for p in users if "perpflow.data.store" in _imports(p)]
    assert direct == [], f"read the store through perpflow.data.readers: {direct}"


def test_features_read_no_files():
    """Features are pure: they get their inputs from the caller (the basis its contracts from
    `perpflow.data.quarterlies.load_quarterlies`, the macro blackout its calendar from
    `perpflow.data.macro_calendar.load_calendar`)."""
    io = ("read_feather", "read_parquet", "read_csv", "glob", "open")
    for path in sorted((REPO / "perpflow" / "features").glob("*.py")):
        calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
                 for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)}  # fmt: skip
        found = sorted(calls & set(io))
        assert not found, f"{path.name} reads files: {found}"
