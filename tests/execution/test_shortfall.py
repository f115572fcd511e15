"""Shortfall measurement on a real Freqtrade sqlite database built with Freqtrade's own models
(init_db, Trade, Order, trade.set_custom_data), the shadow pairing, the report and the command."""

from __future__ import annotations

import json
import types
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from perpflow.execution.shortfall import shortfall, summary, trade_fills
from perpflow.execution.shortfall_shadow import fill_decision, shadow_shortfall

T0 = datetime(2026, 6, 10, 18, 0)  # 14:00 New York (EDT): the ny_open block
T1 = datetime(2026, 6, 10, 22, 0)  # 18:00 New York: ny_close


def _order(side: str, n: int, price: float, filled: float, when: datetime, *, status="closed",
           is_open=False, tag=None, amount=None):  # fmt: skip
    from freqtrade.persistence import Order

    return Order(ft_order_side=side, ft_pair="X", ft_is_open=is_open, ft_amount=amount or filled,
                 ft_price=price, order_id=f"o{n}", status=status, symbol="X", order_type="market",
                 side=side, price=price, average=price if filled else None,
                 amount=amount or filled, filled=filled, remaining=(amount or filled) - filled,
                 cost=price * filled, order_date=when, order_filled_date=when if filled else None,
                 ft_order_tag=tag)  # fmt: skip


def _trade(pair: str, is_short: bool, when: datetime, orders: list, **kw):
    from freqtrade.enums import TradingMode
    from freqtrade.persistence import Trade

    t = Trade(exchange="binance", pair=pair, stake_amount=100.0, open_rate=orders[0].price,
              amount=orders[0].filled, fee_open=0.0005, fee_close=0.0005, open_date=when,
              is_short=is_short, leverage=2.0, trading_mode=TradingMode.FUTURES,
              is_open=kw.pop("is_open", True), **kw)  # fmt: skip
    entry = "sell" if is_short else "buy"
    for leg in (entry, "exit"):  # as the bot does: the average entry is fixed while open
        for o in orders:
            if (o.ft_order_side == entry) == (leg == entry):
                o.ft_pair = pair
                t.orders.append(o)
        t.recalc_trade_from_orders(is_closing=leg == "exit")
    Trade.session.add(t)
    Trade.commit()
    return t


@pytest.fixture
def bot_db(tmp_path):
    """Four trades: a long of three children (plus a cancelled unfilled one) with a target
    exit, a short of two children (one a partial fill) stopped out, an open long without any
    custom data, and a long whose decision price is missing but whose model is set."""
    from freqtrade.persistence import Trade, init_db

    db = tmp_path / "tradesv3.sqlite"
    init_db(f"sqlite:///{db}")
    m = pd.Timedelta(minutes=1).to_pytimedelta()
    btc = _trade("BTC/USDT:USDT", False, T0, [
        _order("buy", 1, 100.0, 1.0, T0, tag="child-1"),
        _order("buy", 2, 101.0, 2.0, T0 + m, tag="child-2"),
        _order("buy", 3, 99.0, 0.0, T0 + 2 * m, status="canceled", tag="child-3"),
        _order("buy", 4, 102.0, 1.0, T0 + 3 * m, tag="child-4"),
        _order("sell", 5, 109.5, 4.0, T0 + 60 * m),
    ], is_open=False, exit_reason="exit_signal", close_date=T0 + 60 * m, close_rate=109.5)  # fmt: skip
    for k, v in {"pf_decision_price": 100.0, "pf_model_bps": 80.0, "pf_model_band_lo": 50.0,
                 "pf_model_band_hi": 120.0, "pf_model_source": "book", "pf_parent_notional": 400.0,
                 "pf_children": 4, "pf_exit_decision_price": 110.0}.items():  # fmt: skip
        btc.set_custom_data(k, v)
    eth = _trade("ETH/USDT:USDT", True, T1, [
        _order("sell", 6, 50.0, 2.0, T1),
        _order("sell", 7, 49.5, 2.0, T1 + m, status="canceled", amount=3.0),
        _order("buy", 8, 52.3, 4.0, T1 + 30 * m),
    ], is_open=False, exit_reason="stop_loss", stop_loss=52.0, close_date=T1 + 30 * m)  # fmt: skip
    for k, v in {"pf_decision_price": 50.0, "pf_model_bps": 10.0, "pf_model_band_lo": 0.0,
                 "pf_model_band_hi": 20.0, "pf_stop": 51.0}.items():  # fmt: skip
        eth.set_custom_data(k, v)
    _trade("SOL/USDT:USDT", False, T1, [_order("buy", 9, 150.0, 3.0, T1),
                                        _order("buy", 10, 151.0, 1.0, T1, is_open=True)])  # fmt: skip
    sol2 = _trade("SOL/USDT:USDT", False, T0, [_order("buy", 11, 150.3, 1.0, T0)])
    sol2.set_custom_data("pf_model_bps", 3.0)
    Trade.session.remove()
    return db


def _by_pair(df: pd.DataFrame) -> dict:
    return {(r.pair, r.decision_time.hour): r for r in df.itertuples()}


def test_fills_are_freqtrades_filled_orders(bot_db):
    f = trade_fills(bot_db)
    # the cancelled unfilled child and the open order are not fills; the partial fill is
    assert len(f) == 9
    assert f["is_entry"].sum() == 7 and set(f.loc[~f["is_entry"], "order_side"]) == {"buy", "sell"}
    eth = f[f["pair"] == "ETH/USDT:USDT"]
    assert list(eth["side"].unique()) == ["short"]
    assert eth["is_entry"].tolist() == [True, True, False]
    btc_tags = f.loc[f["pair"] == "BTC/USDT:USDT", "tag"].tolist()
    assert btc_tags[:3] == ["child-1", "child-2", "child-4"]
    assert str(f["time"].dt.tz) == "UTC"


def test_shortfall_vwap_signs_band_and_missing(bot_db):
    from freqtrade.persistence import Trade, init_db
    from sqlalchemy import select

    df = shortfall(bot_db)
    assert len(df) == 4  # nothing dropped
    r = _by_pair(df)
    btc, eth = r[("BTC/USDT:USDT", 18)], r[("ETH/USDT:USDT", 22)]
    sol_open, sol_model = r[("SOL/USDT:USDT", 22)], r[("SOL/USDT:USDT", 18)]
    # VWAP over the filled children: (100*1 + 101*2 + 102*1) / 4
    assert btc.entry_orders == 3 and btc.entry_vwap == pytest.approx(101.0)
    assert btc.shortfall_bps == pytest.approx(100.0)  # long paid 1% over the decision
    assert bool(btc.in_band) and not pd.isna(btc.in_band)
    assert btc.residual_bps == pytest.approx(20.0)
    assert btc.fill_share == pytest.approx(404.0 / 400.0) and btc.children_planned == 4
    assert btc.entry_span_s == 180.0 and btc.session == "ny_open"
    # target exit, sold below the exit decision: paid, positive
    assert not btc.exit_is_stop and btc.exit_decision_source == "pf_exit_decision_price"
    assert btc.exit_shortfall_bps == pytest.approx(-(109.5 / 110 - 1) * 1e4)
    # short: sold lower than decided = paid; the partial fill of a cancelled order counts
    assert eth.entry_orders == 2 and eth.entry_vwap == pytest.approx(49.75)
    assert eth.shortfall_bps == pytest.approx(50.0) and not bool(eth.in_band)
    assert eth.session == "ny_close"
    # stop exit: measured from Freqtrade's stop_loss column, flagged; buying back above is paid
    assert eth.exit_is_stop and eth.exit_decision_source == "stop_loss"
    assert eth.exit_decision_price == 52.0
    assert eth.exit_shortfall_bps == pytest.approx((52.3 / 52 - 1) * 1e4)
    # no decision price: kept with NaN, in_band unknown (not False)
    for t in (sol_open, sol_model):
        assert np.isnan(t.shortfall_bps) and t.in_band is pd.NA and pd.isna(t.decision_source)
    assert sol_open.entry_orders == 1 and sol_open.is_open and sol_open.exit_orders == 0
    assert sol_model.model_bps == 3.0 and np.isnan(sol_model.residual_bps)
    # the VWAP is Freqtrade's own average entry price of the same orders
    init_db(f"sqlite:///{bot_db}")
    for t in Trade.session.scalars(select(Trade)).all():
        row = df[df["trade_id"] == t.id].iloc[0]
        assert row["entry_vwap"] == pytest.approx(t.open_rate), t.pair
    Trade.session.remove()


def test_summary_counts_and_groups(bot_db):
    s = summary(shortfall(bot_db))
    assert s["trades"] == 4 and s["entries_measured"] == 2 and s["without_decision_price"] == 2
    assert s["exits"] == 2 and s["exits_measured"] == 2 and s["stop_exits"] == 1
    assert s["multi_child_entries"] == 2 and s["in_band_known"] == 2 and s["in_band_share"] == 0.5
    assert s["entry"]["median"] == pytest.approx(75.0) and s["entry"]["n"] == 2
    assert s["residual_median_bps"] == pytest.approx((20.0 + 40.0) / 2)
    pairs = {g["pair"]: g for g in s["by_pair"]}
    assert pairs["SOL/USDT:USDT"]["trades"] == 2 and pairs["SOL/USDT:USDT"]["measured"] == 0
    assert {g["session"] for g in s["by_session"]} == {"ny_open", "ny_close"}
    json.dumps(s)  # JSON-ready


def test_empty_database_is_an_empty_measure(tmp_path):
    from freqtrade.persistence import Trade, init_db

    db = tmp_path / "empty.sqlite"
    init_db(f"sqlite:///{db}")
    Trade.session.remove()
    df = shortfall(db)
    s = summary(df)
    assert df.empty and "shortfall_bps" in df and s["trades"] == 0 and s["entry"]["median"] is None


def _pairing() -> pd.DataFrame:
    """A frame as parity_causes.match_trades returns it (plus book_model_bps)."""
    c0, c1 = pd.Timestamp(T0, tz="UTC"), pd.Timestamp(T1, tz="UTC")
    return pd.DataFrame({
        "pair": ["SOL/USDT:USDT", "SOL/USDT:USDT", "BTC/USDT:USDT"],
        "side": ["long", "long", "short"], "candle": [c0, c1, c1],
        "open_date_live": [c0 + pd.Timedelta(seconds=4), c1 + pd.Timedelta(seconds=3), pd.NaT],
        "open_rate_live": [150.3, 150.0, np.nan], "amount_live": [1.0, 3.0, np.nan],
        "open_rate_bt": [150.0, 149.0, 99.0], "status": ["matched", "matched", "backtest_only"],
        "slippage_bps": [20.0, (150 / 149 - 1) * 1e4, np.nan], "model_bps": [19.0, 60.0, np.nan],
    })  # fmt: skip


def test_shadow_shortfall_and_fallback(bot_db):
    m = _pairing()
    bt = shadow_shortfall(m)
    assert len(bt) == 2 and set(bt["decision_source"]) == {"backtest_entry"}
    assert bt["shortfall_bps"].tolist() == pytest.approx(m["slippage_bps"][:2].tolist())
    assert bt["model_bps"].tolist() == pytest.approx([19.0, 60.0])  # same base: unchanged
    closes = pd.Series([150.15, 149.7, 98.0])
    sig = shadow_shortfall(m, signal_close=closes)
    assert set(sig["decision_source"]) == {"candle_close"}
    assert sig["shortfall_bps"][0] == pytest.approx((150.3 / 150.15 - 1) * 1e4)
    # the book model moved from the backtest price to the signal close
    assert sig["model_bps"][0] == pytest.approx((150 * 1.0019 / 150.15 - 1) * 1e4)
    filled = fill_decision(shortfall(bot_db), sig, "5m")
    r = _by_pair(filled)
    sol_model, sol_open = r[("SOL/USDT:USDT", 18)], r[("SOL/USDT:USDT", 22)]
    assert sol_model.decision_source == "candle_close" and sol_model.decision_price == 150.15
    assert sol_model.model_bps == 3.0 and pd.isna(sol_model.model_source)  # its own model kept
    assert sol_open.model_source == "venue_book_walk"
    assert sol_open.shortfall_bps == pytest.approx((150.0 / 149.7 - 1) * 1e4)  # open order left out
    btc = r[("BTC/USDT:USDT", 18)]  # had its own decision price: untouched
    assert btc.decision_source == "pf_decision_price" and btc.shortfall_bps == pytest.approx(100)
    assert len(filled) == 4


def _cli(monkeypatch, argv: list[str]) -> int:
    """`perpflow execution shortfall ...`: through the real `execution` group once the lead
    registers it in app.py, until then through a stand-in group holding only this command."""
    from perpflow.cli import app, execution_shortfall
    from perpflow.cli.args import group
    from tests.conftest import run_cli

    if not any(g.__name__.endswith(".execution") for g in app.GROUPS):
        stub = types.SimpleNamespace(__name__="perpflow.cli.execution", register=lambda sub: (
            execution_shortfall.add(group(sub, "execution", "execution", "execution_cmd"))))  # fmt: skip
        monkeypatch.setattr(app, "GROUPS", (*app.GROUPS, stub))
    return run_cli(argv)


def test_command_writes_report(bot_db, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report"
    argv = ["execution", "shortfall", "--db", str(bot_db), "--out", str(out)]
    assert _cli(monkeypatch, argv) == 0
    text = capsys.readouterr().out
    assert "4 trades, 2 entries measured (2 without a decision price" in text
    assert "median 75.00 bps" in text
    for name in ("shortfall.csv", "summary.json", "shortfall.md", "shortfall.html",
                 "shortfall_vs_model.png", "shortfall_hist.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    csv = pd.read_csv(out / "shortfall.csv")
    assert len(csv) == 4 and csv["shortfall_bps"].isna().sum() == 2
    assert "Measured entries in the model's band: 1 of 2" in (out / "shortfall.md").read_text()
    assert "data:image/png;base64," in (out / "shortfall.html").read_text()


def test_command_refuses_a_non_freqtrade_file(tmp_path, monkeypatch):
    bad = tmp_path / "notes.sqlite"
    bad.write_text("not a database")
    with pytest.raises(SystemExit, match="notes.sqlite: not a sqlite database"):
        _cli(monkeypatch, ["execution", "shortfall", "--db", str(bad)])
    with pytest.raises(SystemExit, match="missing.sqlite: no such file"):
        _cli(monkeypatch, ["execution", "shortfall", "--db", str(tmp_path / "missing.sqlite")])
