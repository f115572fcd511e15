"""The trial ledger: append-only, a re-run never counts twice, a changed variant always counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perpflow.validation.trials import Ledger, Trial, config_hash, sha256_of


def _trial(study="robustness", variant="base", overlay=None, span="20250101-20250301", sr=0.05):
    h = config_hash(config={"a": 1}, overlay=overlay or {}, pairs=["BTC/USDT:USDT"])
    return Trial(study, variant, h, span, 59, sr)


def test_rerunning_a_finished_variant_does_not_count_twice(tmp_path):
    led = Ledger(tmp_path / "trials.jsonl")
    assert led.record([_trial(), _trial(variant="p-x-plus", overlay={"x": 2})]) == 2
    assert led.record([_trial(), _trial(variant="p-x-plus", overlay={"x": 2})]) == 0
    assert led.n_trials("robustness") == 2
    assert len(led.read()) == 2  # nothing appended for the re-run


def test_changed_configuration_or_span_is_a_new_trial(tmp_path):
    led = Ledger(tmp_path / "trials.jsonl")
    led.record([_trial()])
    led.record([_trial(overlay={"x": 3})])  # same id, changed overlay: a new trial
    led.record([_trial(span="20250301-20250401")])
    led.record([_trial(study="walk-forward")])
    assert led.n_trials("robustness") == 3
    assert led.n_trials("robustness", span="20250101-20250301") == 2
    assert led.n_trials("walk-forward") == 1
    assert led.n_trials("select-dev") == 0


def test_ledger_is_append_only_and_keeps_earlier_lines(tmp_path):
    led = Ledger(tmp_path / "sub" / "trials.jsonl")
    led.record([_trial()])
    first = led.path.read_text()
    led.record([_trial(overlay={"y": 1}, sr=float("nan"))])
    text = led.path.read_text()
    assert text.startswith(first) and len(text.splitlines()) == 2
    rec = json.loads(text.splitlines()[1])
    assert rec["sharpe"] is None and rec["n_obs"] == 59 and rec["timestamp"]
    sharpes = led.sharpes("robustness")
    assert sharpes[0] == 0.05 and np.isnan(sharpes[1])


def test_corrupt_line_is_named(tmp_path):
    led = Ledger(tmp_path / "trials.jsonl")
    led.record([_trial()])
    with open(led.path, "a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ValueError, match=r"trials.jsonl:2: not a JSON trial record"):
        led.read()


def test_hashes_are_canonical():
    assert sha256_of({"b": 1, "a": [1, 2]}) == sha256_of({"a": [1, 2], "b": 1})
    assert config_hash(overlay={"x": 1}, pairs=["B", "A"]) == config_hash(overlay={"x": 1},
                                                                          pairs=["A", "B"])  # fmt: skip
    assert config_hash(overlay={"x": 1}) != config_hash(overlay={"x": 1.1})
    assert (
        Ledger.beside(__import__("pathlib").Path("/r/study")).path.as_posix() == "/r/trials.jsonl"
    )
