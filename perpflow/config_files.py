"""Freqtrade config files as Freqtrade merges them, and `perpflow config check`.

`merged_config` uses Freqtrade's own loader (comments, trailing commas, `add_config_files`,
later files override earlier ones) and applies `FREQTRADE__...` environment variables the way
`freqtrade trade`/`backtesting` do; `check_config` then validates Freqtrade's schema (which
fills Freqtrade's defaults in), the `perpflow` section and the security rules, so a config a
make target is about to run fails here with a one-line reason instead of inside the bot.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from perpflow.config import PerpflowConfig, load_perpflow_config
from perpflow.config_security import check_secrets
from perpflow.errors import UserError

DEFAULT_FILES = ("config.json",)


def merged_config(files: list[str | Path] | tuple = DEFAULT_FILES, *,
                  environment: bool = True) -> dict[str, Any]:  # fmt: skip
    """The config of `files` merged by Freqtrade's loader, with `FREQTRADE__...` environment
    variables over it when `environment`. UserError naming the file on a missing file or a
    JSON syntax error."""
    from freqtrade.configuration.environment_vars import environment_vars_to_dict
    from freqtrade.configuration.load_config import load_from_files
    from freqtrade.exceptions import OperationalException
    from freqtrade.misc import deep_merge_dicts

    for f in files:
        if not Path(f).is_file():
            raise UserError(f"{f}: config file not found (give an existing file with -c)")
    try:
        config = load_from_files([str(f) for f in files])
    except OperationalException as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"{' + '.join(map(str, files))}: {first}") from None
    if environment:
        config = deep_merge_dicts(environment_vars_to_dict(), config)
    return config


def perpflow_section(files: list[str | Path] | tuple | None) -> PerpflowConfig:
    """The validated `perpflow` section of the merged `files` (defaults when none are given)."""
    return load_perpflow_config(merged_config(files) if files else {})


def freqtrade_checks(config: dict[str, Any]) -> None:
    """Freqtrade's own consistency and schema checks (before a strategy is loaded, its minimal
    run mode); fills in Freqtrade's defaults."""
    from freqtrade.configuration.config_validation import validate_config_consistency
    from freqtrade.exceptions import OperationalException

    quiet = logging.getLogger("freqtrade.configuration.config_validation")  # logs the schema
    level, quiet.level = quiet.level, logging.CRITICAL + 1
    try:
        validate_config_consistency(config, preliminary=True)
    except OperationalException as exc:
        raise UserError(f"freqtrade config: {exc}") from None
    finally:
        quiet.setLevel(level)


def check_config(files: list[str | Path] | tuple = DEFAULT_FILES,
                 env: Mapping[str, str] | None = None) -> list[str]:  # fmt: skip
    """Validate the merged `files` (Freqtrade's schema, the perpflow section, the security
    rules of `perpflow.config_security`); lines describing what was checked, or a
    `UserError`/`PerpflowConfigError` naming the first problem."""
    env = os.environ if env is None else env
    config = merged_config(files)
    load_perpflow_config(config)
    if "ensemble" in (config.get("freqai") or {}):  # EventEnsembleClassifier's section
        from perpflow.ai.ensemble import load_ensemble_config

        load_ensemble_config(config["freqai"])
    check_secrets(config, env)
    freqtrade_checks(config)
    api, tg = config.get("api_server") or {}, config.get("telegram") or {}
    return [
        f"files: {', '.join(map(str, files))}",
        "perpflow section: valid" + ("" if "perpflow" in config else " (absent: defaults)"),
        "api_server: " + (f"enabled on {api.get('listen_ip_address')}:{api.get('listen_port')}, "
                          "secrets from the environment" if api.get("enabled") else "disabled"),
        "telegram: " + ("enabled, token and chat id set" if tg.get("enabled") else "disabled"),
        f"dry_run: {config.get('dry_run')}",
    ]  # fmt: skip
