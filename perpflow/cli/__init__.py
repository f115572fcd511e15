"""The `perpflow` command (console script `perpflow = perpflow.cli:main`); see `perpflow.cli.app`."""

from perpflow.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
