"""The trading-code fingerprint in every config hash: a change to a strategy's source is a new
trial; a re-run of the same code, or a change outside the listed parts, is not."""

from __future__ import annotations

from perpflow.validation import code_hash
from perpflow.validation.trials import config_hash


def test_source_hash_follows_the_listed_sources_only(tmp_path):
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "S.py").write_text("use_exit_signal = False\n")
    (tmp_path / "cli.py").write_text("x = 1\n")
    parts = ("strategies", "missing", "cfg.py")
    first = code_hash.source_hash(tmp_path, parts)
    assert code_hash.source_hash(tmp_path, parts) == first
    (tmp_path / "cli.py").write_text("x = 2\n")  # not listed
    (tmp_path / "strategies" / "S.pyc").write_bytes(b"\0")  # not source
    assert code_hash.source_hash(tmp_path, parts) == first
    (tmp_path / "strategies" / "S.py").write_text("use_exit_signal = True\n")
    fixed = code_hash.source_hash(tmp_path, parts)
    assert fixed != first
    (tmp_path / "cfg.py").write_text("")  # a listed file that appears
    assert code_hash.source_hash(tmp_path, parts) != fixed


def test_config_hash_carries_the_trading_code():
    assert code_hash.trading_code_hash() == code_hash.source_hash(code_hash.REPO,
                                                                  code_hash.TRADING_CODE)  # fmt: skip
    base = config_hash(overlay={"x": 1})
    assert base == config_hash(overlay={"x": 1}, code=code_hash.trading_code_hash())
    assert base != config_hash(overlay={"x": 1}, code="0" * 64)
