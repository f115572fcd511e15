"""`perpflow config check` (issue 15, item 8): the merged Freqtrade config's perpflow section,
Freqtrade's own checks and the security rules, run by the make targets before Freqtrade."""

from __future__ import annotations

import json
import re

import pytest

from perpflow.cli import main
from perpflow.config_files import check_config, merged_config
from perpflow.errors import PerpflowConfigError, UserError
from tests.conftest import REPO

SHIPPED = sorted(p.name for p in REPO.glob("config*.json"))
SECRETS = {"FREQTRADE__API_SERVER__USERNAME": "u", "FREQTRADE__API_SERVER__PASSWORD": "p" * 12,
           "FREQTRADE__API_SERVER__JWT_SECRET_KEY": "j" * 40,
           "FREQTRADE__API_SERVER__WS_TOKEN": "w" * 40, "FREQTRADE__TELEGRAM__TOKEN": "1:t",
           "FREQTRADE__TELEGRAM__CHAT_ID": "42"}  # fmt: skip


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_passes(name, monkeypatch):
    section = {"config.api.json": "API_SERVER", "config.telegram.json": "TELEGRAM"}.get(name, "-")
    for key, value in SECRETS.items():  # the overlay's own secrets (Freqtrade merges the rest in)
        monkeypatch.setenv(key, value) if f"__{section}__" in key else monkeypatch.delenv(
            key, raising=False
        )
    # config.ensemble.json is an overlay on config.freqai.json (FreqAI's required keys are there)
    base = [REPO / "config.freqai.json"] if name == "config.ensemble.json" else []
    lines = check_config([REPO / "config.json", *base, REPO / name])
    assert "perpflow section: valid" in lines


def test_overlays_without_their_secrets_fail(monkeypatch):
    for key in SECRETS:
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(PerpflowConfigError, match="FREQTRADE__API_SERVER__WS_TOKEN"):
        check_config([REPO / "config.json", REPO / "config.api.json"])
    with pytest.raises(PerpflowConfigError, match="FREQTRADE__TELEGRAM__TOKEN"):
        check_config([REPO / "config.json", REPO / "config.telegram.json"])


def test_later_files_and_the_environment_override(tmp_path, monkeypatch):
    (tmp_path / "a.json").write_text(json.dumps({"perpflow": {"risk": {"trail_atr": 2.5}}, "x": 1}))
    (tmp_path / "b.json").write_text('{"perpflow": {"risk": {"trail_atr": 3.0}}, // comment\n}')
    monkeypatch.setenv("FREQTRADE__X", "7")
    merged = merged_config([tmp_path / "a.json", tmp_path / "b.json"])
    assert merged["perpflow"]["risk"]["trail_atr"] == 3.0 and merged["x"] == 7


def test_bad_files_and_values_are_one_line(tmp_path, capsys):
    with pytest.raises(UserError, match="config file not found"):
        merged_config([tmp_path / "none.json"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"perpflow": {"risk": {"session_trail": {"ny_opn": 1.0}}}}))
    assert main(["config", "check", "-c", str(REPO / "config.json"), "-c", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "perpflow.risk.session_trail.ny_opn" in err
    unlimited = tmp_path / "u.json"
    unlimited.write_text(json.dumps({"max_open_trades": -1, "stake_amount": "unlimited"}))
    assert main(["config", "check", "-c", str(REPO / "config.json"), "-c", str(unlimited)]) == 2
    assert "freqtrade config:" in capsys.readouterr().err
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out.startswith("config OK: files: config.json")


@pytest.mark.parametrize("target", ["backtest", "dry-run", "live-venue", "venue"])
def test_make_targets_check_the_config_first(target):
    text = (REPO / "Makefile").read_text()
    recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe, target
    lines = [x.strip() for x in recipe.group(1).splitlines()]
    check = next(i for i, x in enumerate(lines) if "config check" in x or "CONFIG_CHECK" in x)
    assert all(i > check for i, x in enumerate(lines) if "freqtrade" in x or "venue serve" in x)
    if "CONFIG_CHECK" in lines[check]:
        assert re.search(
            r"^CONFIG_CHECK = \$\(BIN\)/perpflow config check .*\$\(OVERLAYS\)", text, re.M
        )
