"""Event study mechanics: causal detection, stratified baseline draws, a planted edge found and
pure noise not, the event table's contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.config import PerpflowConfig
from perpflow.features.volatility import atr
from perpflow.research.baseline import (
    draw_candles,
    null_group_sums,
    stratum_codes,
    stratum_pool,
)
from perpflow.research.cells import CELL_COLUMNS, cell_stats, horizon_block, regime_of
from perpflow.research.events import (
    EVENT_COLUMNS,
    detect_events,
    event_masks,
    pair_features,
    vol_decile,
)
from perpflow.research.study import inputs_from_frames
from tests.conftest import random_candles

PAIR = "BTC/USDT:USDT"


def test_detection_is_causal_truncation_parity(demo):
    """Events at t are the same whether or not the rows after t exist."""
    cfg = PerpflowConfig()
    full_candles = pd.read_feather(demo / "futures" / "BTC_USDT_USDT-5m-futures.feather")
    full = detect_events(pair_features(demo, PAIR, cfg, candles=full_candles), pair=PAIR, cfg=cfg)
    assert len(full) > 100 and full["event"].nunique() > 10
    for cut in (len(full_candles) - 2000, len(full_candles) - 517):
        part_c = full_candles.iloc[:cut]
        part = detect_events(pair_features(demo, PAIR, cfg, candles=part_c), pair=PAIR, cfg=cfg)
        end = part_c["date"].iloc[-1]
        expect = full[full["date"] <= end].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, expect)


def test_event_table_contract(demo):
    cfg = PerpflowConfig()
    ev = detect_events(pair_features(demo, PAIR, cfg), pair=PAIR, cfg=cfg)
    assert tuple(ev.columns) == EVENT_COLUMNS
    assert str(ev["date"].dtype) == "datetime64[ns, UTC]"
    assert ev["dir"].dtype == np.int8 and ev["vol_decile"].dtype == np.int8
    assert set(ev["dir"].unique()) <= {-1, 0, 1}
    assert ev["vol_decile"].between(0, 9).all()
    assert set(ev["block"]) <= {"other", "ny_open", "ny_close", "asia_london"}
    assert (ev["pair"] == PAIR).all()
    low = ev[ev["event"].str.startswith("sweep_low")]
    assert len(low) and (low["dir"] == -1).all()
    book = ev[ev["event"].str.startswith("book_")]  # the store has books for the last days only
    assert {"book_imb_bid", "book_imb_ask"} <= set(book["event"])
    assert book["date"].min() >= pd.Timestamp("2026-06-11", tz="UTC")


def test_book_and_flow_events_from_their_columns():
    f = random_candles(50)
    f["book_imb_10_last"] = np.r_[[-0.2] * 10, [0.3] * 40]
    f["book_void_bid_bps_max"] = np.r_[[1.0] * 20, [50.0] * 3, [1.0] * 27]
    f["book_void_ask_bps_max"] = 1.0
    f["aggressor_imbalance"] = np.nan
    from perpflow.research.events import _book_flow_events

    m = _book_flow_events(f, PerpflowConfig())
    assert np.flatnonzero(m["book_imb_bid"][0]).tolist() == [10]
    assert np.flatnonzero(m["book_void_bid"][0]).tolist() == [20] and m["book_void_bid"][1] == -1
    assert "flow_buy" not in m  # no trades: flow events absent


def test_vol_decile_reads_only_the_past():
    c = random_candles(3000)
    a = atr(c)
    full = vol_decile(c["close"], a, timeframe="5m", window=pd.Timedelta(days=2))
    part = vol_decile(c["close"][:2000], a[:2000], timeframe="5m", window=pd.Timedelta(days=2))
    np.testing.assert_array_equal(full[:2000].to_numpy(), part.to_numpy())
    first = 14 + 576 - 1  # ATR(14) starts at row 14, then a full 2-day window
    assert full[:first].isna().all() and full[first:].between(0, 9).all()


def test_baseline_draws_respect_strata():
    rng = np.random.default_rng(0)
    n = 5000
    pair, block, dec = rng.integers(0, 2, n), rng.integers(0, 4, n), rng.integers(0, 10, n)
    stratum = stratum_codes(pair, block, dec, n_blocks=4)
    usable = rng.random(n) > 0.2
    pool = stratum_pool(stratum, usable, 80)
    ev_stratum = stratum[rng.choice(np.flatnonzero(usable), 300)]
    drawn = draw_candles(pool, ev_stratum, 200, rng)
    assert (drawn >= 0).all() and usable[drawn].all()
    assert (stratum[drawn] == ev_stratum[:, None]).all()
    assert (pair[drawn] == (ev_stratum // 40)[:, None]).all()  # the cell's pair, block, decile
    assert (dec[drawn] == (ev_stratum % 10)[:, None]).all()
    empty = draw_candles(pool, np.array([79]), 5, rng) if pool.sizes[79] == 0 else None
    assert empty is None or (empty == -1).all()


def test_null_sums_are_signed_sums_of_the_matched_candles():
    """One candle per stratum: every draw is that candle, so the null sums are exact."""
    values = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    pool = stratum_pool(np.array([0, 1, 2]), np.ones(3, bool), 3)
    out = null_group_sums(values, pool, np.array([0, 1, 2, 2]), np.array([1, -1, 0, -1]),
                          np.array([0, 0, 1, 1]), 2, draws=7)  # fmt: skip
    np.testing.assert_allclose(out[0], np.tile([-1.0, -10.0], (7, 1)))
    np.testing.assert_allclose(out[1], np.tile([0.0, 0.0], (7, 1)))
    with pytest.raises(ValueError, match="sorted by group"):
        null_group_sums(values, pool, np.array([0, 1]), np.array([1, 1]), np.array([1, 0]), 2)


def test_horizon_block_covers_overlapping_windows():
    assert horizon_block(1000, 288, 1000 * 288) == 10  # sparse events: n ** (1/3)
    assert horizon_block(1000, 288, 10_000) == 29  # 28.8 events per window
    assert horizon_block(30, 288, 300) == 10  # at most n // 3


def _synthetic(seed: int, *, plant: bool, n: int = 12_000, events: int = 240):
    """Random-walk candles; marked event rows; with `plant`, price rises ~1 ATR over the hour
    after each event."""
    rng = np.random.default_rng(seed)
    c = random_candles(n, seed=seed)
    rows = np.sort(rng.choice(np.arange(400, n - 400), events, replace=False))
    if plant:
        lift = np.zeros(n)
        step = atr(c).bfill().to_numpy() / c["close"].to_numpy() / 12
        for r in rows:  # test set-up only: a ramp after each marked row
            lift[r + 1 : r + 13] += step[r]
        factor = np.exp(np.cumsum(lift))
        c = c.assign(**{k: c[k] * factor for k in ("open", "high", "low", "close")})
    f = c.assign(atr=atr(c).to_numpy())
    f["block"] = np.where(np.arange(n) % 288 < 144, "asia_london", "other")
    f["vol_decile"] = vol_decile(
        f["close"], f["atr"], timeframe="5m", window=pd.Timedelta(days=2)
    ).to_numpy()
    keep = rows[~np.isnan(f["vol_decile"].to_numpy()[rows])]
    ev = pd.DataFrame({"pair": PAIR, "date": f["date"].to_numpy()[keep], "event": "marked",
                       "dir": np.int8(1), "block": f["block"].to_numpy()[keep],
                       "vol_decile": f["vol_decile"].to_numpy()[keep].astype("int8")})  # fmt: skip
    return inputs_from_frames([(f, ev)])


def test_planted_edge_is_found():
    cells = cell_stats(_synthetic(1, plant=True), pairs=[PAIR], draws=300, min_events=30,
                       progress=False)  # fmt: skip
    assert tuple(cells.columns) == CELL_COLUMNS
    top = cells[(cells["pair"] == "all") & (cells["block"] == "all") & (cells["regime"] == "all")]
    hour = top[top["horizon"] == "1h"].iloc[0]
    assert hour["mean_atr"] > 0.8 and hour["p"] < 1e-6 and hour["q"] <= 0.05
    assert hour["p_empirical"] == pytest.approx(1 / 301), "the rank p sits at its floor"
    assert hour["ci_lo_bps"] > hour["base_hi_bps"]


def test_pure_noise_has_no_survivors():
    cells = cell_stats(_synthetic(2, plant=False), pairs=[PAIR], draws=300, min_events=30,
                       progress=False)  # fmt: skip
    tested = cells[cells["tested"]]
    assert len(tested) >= 20
    assert (tested["q"] <= 0.10).sum() == 0
    assert cells.loc[~cells["tested"], "q"].isna().all()


def test_regimes_partition_the_deciles():
    assert list(regime_of(np.arange(10))) == ["low"] * 3 + ["mid"] * 4 + ["high"] * 3


def test_every_event_kind_has_a_direction_rule(demo):
    cfg = PerpflowConfig()
    masks = event_masks(pair_features(demo, PAIR, cfg), cfg)
    assert {d for _, d in masks.values()} <= {-1, 0, 1}
    assert {"sweep_low_swing_deep", "fvg_bull_fill", "oi_up_px_down", "open_run_high"} <= set(masks)
