"""Pattern mining mechanics: the grammar's count, instances, strata of the baseline draws, a
planted pattern that must survive, pure noise that must not, and the command."""

import numpy as np
import pandas as pd
import pytest

from perpflow.cli import main
from perpflow.data.files import pair_file
from perpflow.errors import UserError
from perpflow.features.sessions import SESSION_CODES, SESSION_NAMES, ny_session_block
from perpflow.research.patterns import (
    DIRS,
    OUTCOMES,
    WHERES,
    Outcome,
    Trigger,
    enumerate_patterns,
    trigger_events,
)
from perpflow.research.patterns_data import load_events, pair_table
from perpflow.research.patterns_mine import (
    ALL_PAIRS,
    draw_rows,
    instances,
    join_events,
    mine,
    strata,
)
from tests.conftest import run_cli

PAIRS = ("AAA/USDT:USDT", "BBB/USDT:USDT")
PLANT = ("sweep_low_swing", "any", "ny_open", "first_hour", "trend_cont", "same")


def _market(seed: int, *, plant: bool, days: int = 75, noise_events: int = 200):
    """5m random-walk candles and events: one `sweep_low_swing` (random dir) in the first hour
    of every ny_open block, after which the block drifts in that direction when `plant`, and
    `noise_events` `sweep_high_swing` events on random candles."""
    rng = np.random.default_rng(seed)
    n = days * 288
    dates = pd.date_range("2025-01-06", periods=n, freq="5min", tz="UTC")
    r = rng.normal(0, 0.003, n)
    code = ny_session_block(pd.Series(dates)).to_numpy()
    new = np.r_[True, code[1:] != code[:-1]]
    starts, ends = np.flatnonzero(new), np.r_[np.flatnonzero(new)[1:] - 1, n - 1]
    trig, dirs = [], []
    for s, e in zip(starts[1:-1], ends[1:-1], strict=True):
        if code[s] == SESSION_CODES["ny_open"]:
            t, d = s + int(rng.integers(0, 12)), int(rng.choice([-1, 1]))
            r[t + 1 : e + 1] += d * 0.0015 if plant else 0.0
            trig.append(t)
            dirs.append(d)
    close = 100 * np.exp(np.cumsum(r))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, 0.002, n)) * close
    df = pd.DataFrame({"date": dates, "open": open_, "high": np.maximum(open_, close) + wick,
                       "low": np.minimum(open_, close) - wick, "close": close,
                       "volume": rng.gamma(2.0, 50.0, n)})  # fmt: skip
    noise = rng.choice(n, noise_events, replace=False)
    rows = np.r_[trig, noise]
    events = pd.DataFrame({
        "date": dates[rows], "event": ["sweep_low_swing"] * len(trig) + ["sweep_high_swing"] * len(noise),
        "dir": np.r_[dirs, rng.choice([-1, 1], len(noise))].astype("int8"),
        "block": [SESSION_NAMES[c] for c in code[rows]], "vol_decile": np.int8(0),
    })  # fmt: skip
    return df, events


def _inputs(seed: int, plant: bool):
    tables, events = [], []
    for k, pair in enumerate(PAIRS):
        df, ev = _market(seed + k, plant=plant)
        tables.append(pair_table(df, pair, "5m"))
        events.append(ev.assign(pair=pair))
    return pd.concat(events, ignore_index=True), pd.concat(tables, ignore_index=True)


def _cell(cells: pd.DataFrame, pair: str, spec=PLANT) -> pd.Series:
    keys = ["trigger", "dir", "block", "window", "outcome", "scope"]
    hit = cells[(cells[keys] == pd.Series(dict(zip(keys, spec, strict=True)))).all(axis=1)]
    return hit[hit["pair"] == pair].iloc[0]


def test_the_count_of_patterns_is_the_grammar_enumeration():
    names = ["sweep_low_swing", "sweep_high_swing", "fvg_up"]
    assert trigger_events(names) == [("fvg_up", "name"), ("sweep_high_swing", "name"),
                                     ("sweep_low_swing", "name"), ("sweep", "family")]  # fmt: skip
    patterns = enumerate_patterns(names)
    assert len(patterns) == 4 * len(DIRS) * len(WHERES) * len(OUTCOMES) == 4 * 3 * 7 * 9
    assert len({p.name for p in patterns}) == len(patterns)


def test_triggers_and_outcome_values():
    names = np.array(["sweep_low_swing", "sweep_high_swing", "fvg_up", "sweepish"])
    dirs = np.array([-1, 1, 1, 1])
    fam = Trigger("sweep", "family", "any").matches(names, dirs)
    assert fam.tolist() == [True, True, False, False]
    assert Trigger("sweep", "family", "up").matches(names, dirs).tolist() == [0, 1, 0, 0]
    ret, d = np.array([1.5, 1.5, -2.0, np.nan, 3.0]), np.array([1, -1, -1, 1, 0])
    np.testing.assert_array_equal(Outcome("trend_cont", "same", 1.0).values(ret, d),
                                  [1.0, 0.0, 1.0, np.nan, np.nan])  # fmt: skip
    np.testing.assert_array_equal(Outcome("trend_rev", "same", 1.0).values(ret, d),
                                  [0.0, 1.0, 0.0, np.nan, np.nan])  # fmt: skip
    np.testing.assert_array_equal(Outcome("move", "next").values(ret, d),
                                  [1.5, -1.5, 2.0, np.nan, np.nan])  # fmt: skip
    np.testing.assert_array_equal(Outcome("range_expansion", "same", 1.5).values(ret, d),
                                  [1.0, 1.0, 0.0, np.nan, 1.0])  # fmt: skip


@pytest.fixture(scope="module")
def noise():
    return _inputs(11, plant=False)


def test_baseline_draws_stay_in_the_instance_stratum(noise):
    events, table = noise
    j = join_events(load_ok(events), table, list(PAIRS))
    rows = draw_rows(strata(j, table), np.random.default_rng(0), 40)
    for col in ("pair", "block", "bucket", "vol_decile"):
        got = table[col].to_numpy()[rows]
        assert (got == table[col].to_numpy()[j.row][:, None]).all(), col
    assert table["complete"].to_numpy()[rows].all()
    assert np.mean([len(set(r)) > 5 for r in rows]) > 0.95  # real draws, not the event itself


def load_ok(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["pair", "date"]).reset_index(drop=True)


def test_an_instance_is_the_first_trigger_of_its_block(noise):
    events, table = noise
    ev = load_ok(events)
    j = join_events(ev, table, list(PAIRS))
    trig = Trigger("sweep_high_swing", "name", "any")
    inst = instances(j, table, trig, WHERES[0])
    runs = table["block_run"].to_numpy()[j.row]
    hit = np.flatnonzero(trig.matches(j.events["event"].to_numpy(), j.dir)
                         & (table["block"].to_numpy()[j.row] == SESSION_CODES["asia_london"]))  # fmt: skip
    frame = pd.DataFrame({"i": hit, "p": j.pair_id[hit], "run": runs[hit]})
    want = frame.groupby(["p", "run"])["i"].min()
    assert sorted(inst) == sorted(want) and len(inst) < len(hit)


def test_a_planted_pattern_survives_and_noise_does_not(noise):
    events, table = _inputs(11, plant=True)
    cells = mine(events, table, draws=200, min_count=20, seed=1)
    assert len(cells) == len(enumerate_patterns(events["event"].unique())) * (len(PAIRS) + 1)
    planted = _cell(cells, ALL_PAIRS)
    assert planted["tested"] and planted["n"] >= 60
    assert planted["q"] <= 0.05 and planted["mean"] > planted["base_mean"] + 0.3
    assert planted["ci_lo"] > planted["base_mean"]
    assert _cell(cells, PAIRS[0])["q"] <= 0.10
    assert cells.loc[~cells["tested"], "p"].isna().all()
    assert (cells["q"].notna() == cells["tested"]).all()  # BH counts exactly the tested cells
    assert (cells.loc[cells["tested"], "n"] >= 20).all()

    quiet = mine(*noise, draws=200, min_count=20, seed=1)
    tested = quiet[quiet["tested"]]
    assert len(tested) > 100
    assert (tested["q"] <= 0.10).sum() <= 1
    assert _cell(quiet, ALL_PAIRS)["q"] > 0.10


def test_events_file_errors_name_the_file_and_column(tmp_path):
    with pytest.raises(UserError, match="nope.parquet: events file not found"):
        load_events(tmp_path / "nope.parquet")
    bad = tmp_path / "events.parquet"
    pd.DataFrame({"pair": ["A"], "date": [pd.Timestamp("2025-01-01", tz="UTC")], "event": ["x"],
                  "dir": [1], "block": ["ny_open"]}).to_parquet(bad)  # fmt: skip
    with pytest.raises(UserError, match=r"events.parquet: missing column\(s\) vol_decile"):
        load_events(bad)
    empty = tmp_path / "empty.parquet"
    pd.read_parquet(bad).assign(vol_decile=np.int8(0)).iloc[:0].to_parquet(empty)
    with pytest.raises(UserError, match="empty.parquet: no events"):
        load_events(empty)
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(UserError, match="text.parquet: not a readable parquet"):
        load_events(tmp_path / "text.parquet")


def test_the_command_writes_the_table_and_report(tmp_path, capsys):
    datadir, out = tmp_path / "data", tmp_path / "out"
    df, ev = _market(21, plant=True, days=30, noise_events=50)
    path = pair_file(datadir, PAIRS[0], "5m-futures")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_feather(path)
    ev_path = tmp_path / "events.parquet"
    ev.assign(pair=PAIRS[0]).to_parquet(ev_path)
    argv = ["research", "patterns", "--events", str(ev_path), "--datadir", str(datadir),
            "--draws", "50", "--min-count", "10", "--out", str(out)]  # fmt: skip
    assert run_cli(argv) == 0
    printed = capsys.readouterr().out
    cells = pd.read_parquet(out / "patterns.parquet")
    declared = len(enumerate_patterns(["sweep_low_swing", "sweep_high_swing"]))
    assert f"{declared} patterns declared" in printed
    assert len(cells) == declared * 2  # one pair and the ALL margin
    assert {"pattern", "n", "mean", "ci_lo", "ci_hi", "base_mean", "p", "q", "tested"} <= set(cells)
    assert "Survivors" in (out / "patterns.html").read_text()
    assert (out / "patterns_p.png").exists()
    pd.read_parquet(ev_path).drop(columns="dir").to_parquet(ev_path)
    with pytest.raises(SystemExit, match=r"events.parquet: missing column\(s\) dir"):
        run_cli(argv)
    with pytest.raises(SystemExit):
        main([*argv, "--draws", "0"])
    assert "--draws: '0' is not a whole number >= 1" in capsys.readouterr().err
