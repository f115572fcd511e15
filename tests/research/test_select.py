"""The selection protocol's refusals and bookkeeping, without backtests: the candidates file,
overlapping spans, a tampered selection.json, the criterion."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from perpflow.errors import UserError
from perpflow.research import select
from perpflow.research.select_spec import Span, default_pairs, load_plan
from perpflow.validation.trials import sha256_of
from tests.conftest import REPO, run_cli

CANDS = {"criterion": {"metric": "sharpe", "min_trades": 5},
         "candidates": [{"id": "a", "overlay": {}},
                        {"id": "b", "overlay": {"perpflow": {"risk": {"trail_atr": 1.5}}}}]}  # fmt: skip


def _write(tmp_path, doc, name="cands.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_plan_file_defaults_and_spans(tmp_path):
    p = load_plan(_write(tmp_path, CANDS))
    assert str(p.development) == "2025-01-01..2025-09-30"
    assert p.development.timerange == "20250101-20251001"  # Freqtrade's end is exclusive
    assert p.confirmation.timerange == "20251001-20260219"
    assert [c["id"] for c in p.candidates] == ["a", "b"] and p.criterion.min_trades == 5
    q = load_plan(_write(tmp_path, CANDS), development="2025-02-01..2025-02-28")
    assert q.development.timerange == "20250201-20250301"


@pytest.mark.parametrize("dev, conf", [("2025-01-01..2025-09-30", "2025-09-30..2026-01-01"),
                                       ("2025-03-01..2025-04-01", "2025-01-01..2025-12-31"),
                                       ("2025-05-01..2025-06-01", "2025-04-01..2025-05-01")])  # fmt: skip
def test_overlapping_spans_are_refused(tmp_path, dev, conf):
    with pytest.raises(UserError, match="overlaps the development span"):
        load_plan(_write(tmp_path, {**CANDS, "development": dev, "confirmation": conf}))
    # adjacent spans share no day: accepted
    load_plan(_write(tmp_path, {**CANDS, "development": "2025-01-01..2025-01-31",
                                "confirmation": "2025-02-01..2025-02-10"}))  # fmt: skip


@pytest.mark.parametrize("doc, match", [
    ({"candidates": [{"id": "a"}]}, "declare the selection 'criterion'"),
    ({**CANDS, "criterion": {"metric": "profit_in_sample"}}, "'metric' one of"),
    ({**CANDS, "candidates": []}, "non-empty list"),
    ({**CANDS, "candidates": [{"id": "a"}, {"id": "a"}]}, "appears twice"),
    ({**CANDS, "candidates": [{"id": "a b"}]}, r"candidates\[0\].id"),
    ({**CANDS, "candidates": [{"id": "a", "overlay": [1]}]}, "overlay must be a config object"),
    ({**CANDS, "development": "2025-09-30..2025-01-01"}, "FIRST <= LAST"),
])  # fmt: skip
def test_bad_candidates_files_are_named(tmp_path, doc, match):
    with pytest.raises(UserError, match=match):
        load_plan(_write(tmp_path, doc))


def test_criterion_needs_min_trades_and_breaks_ties_by_file_order():
    table = pd.DataFrame({"id": ["a", "b", "c", "d"], "trades": [40, 10, 40, 50],
                          "sharpe": [1.0, 9.0, 1.0, float("nan")]})  # fmt: skip
    assert select._choose(table, "sharpe", 30) == "a"
    with pytest.raises(UserError, match="no candidate has >= 60 trades"):
        select._choose(table, "sharpe", 60)


def _frozen(tmp_path, **changes):
    sel = {"version": 1, "name": "t", "development": "2025-01-01..2025-01-31",
           "confirmation": "2025-02-01..2025-02-10", "config": str(REPO / "config.json"),
           "config_sha256": sha256_of(json.loads((REPO / "config.json").read_text())),
           "chosen": {"id": "a", "overlay": {}, "config_hash": "0" * 64},
           "pairs": ["BTC/USDT:USDT"], "datadir": str(tmp_path / "nodata"),
           "ledger": str(tmp_path / "trials.jsonl"), "pbo_dev": None} | changes  # fmt: skip
    path = tmp_path / "selection.json"
    path.write_text(json.dumps({"sha256": sha256_of(sel), "selection": sel}, indent=1))
    return path


def test_tampered_selection_is_refused_in_one_line(tmp_path):
    path = _frozen(tmp_path)
    assert select.load_selection(path)["chosen"]["id"] == "a"
    doc = json.loads(path.read_text())
    doc["selection"]["chosen"]["overlay"] = {"perpflow": {"risk": {"trail_atr": 1.0}}}
    path.write_text(json.dumps(doc))
    with pytest.raises(
        SystemExit, match=r"sha256 mismatch .* changed after it was frozen: refused"
    ):
        run_cli(["research", "select", "confirm", "--selection", str(path)])
    path.write_text("{broken")
    with pytest.raises(SystemExit, match="not valid JSON"):
        run_cli(["research", "select", "confirm", "--selection", str(path)])


def test_confirm_refuses_overlap_even_with_a_valid_hash(tmp_path):
    path = _frozen(tmp_path, confirmation="2025-01-20..2025-02-10")
    with pytest.raises(SystemExit, match="overlaps the development span"):
        run_cli(["research", "select", "confirm", "--selection", str(path)])
    assert not (tmp_path / "trials.jsonl").exists()  # refused before evaluating anything


def test_confirm_refuses_a_changed_base_config(tmp_path):
    path = _frozen(tmp_path, config_sha256="f" * 64)
    with pytest.raises(UserError, match="base config changed"):
        select.confirm(path)


def test_span_and_default_pairs(tmp_path):
    s = Span.parse("2025-01-01..2025-01-01", "x")
    assert s.timerange == "20250101-20250102" and not s.overlaps(
        Span.parse("2025-01-02..2025-01-03", "y")
    )
    (tmp_path / "futures").mkdir()
    for name in ("BTC_USDT_USDT-5m-futures", "ETH_USDT_USDT-5m-futures",
                 "BTC_USDT_USDT-5m-open_interest", "SOL_USDT_USDT-1h-futures"):  # fmt: skip
        (tmp_path / "futures" / f"{name}.feather").touch()
    assert default_pairs(tmp_path) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    with pytest.raises(UserError, match="no futures"):
        default_pairs(tmp_path / "futures")


def test_research_select_commands_parse():
    from perpflow.cli import build_parser

    args = build_parser().parse_args(
        "research select plan --candidates c.json --out o --datadir d --pairs A B --config c "
        "--workers 1 --development 2025-01-01..2025-02-01 --confirmation 2025-03-01..2025-04-01 "
        "--ledger l.jsonl".split()
    )
    assert args.prog == "perpflow research select plan" and args.pairs == ["A", "B"]
    args = build_parser().parse_args("research select confirm --selection s.json".split())
    assert args.prog == "perpflow research select confirm" and args.datadir is None
    assert "\n  research " in build_parser().format_help()
