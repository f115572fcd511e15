"""Fixtures for end-to-end tests: a small demo market, the local exchange and config overlays."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ft import write_json


@pytest.fixture(scope="session")
def demo_datadir(tmp_path_factory) -> Path:
    """A 75-day SYNTHETIC demo market (Freqtrade layout) built for this test session."""
    from perpflow.data.demo import generate_demo_market

    out = tmp_path_factory.mktemp("demo")
    generate_demo_market(out, days=75, seed=7)
    return out


@pytest.fixture(scope="session")
def demo_venue(demo_datadir):
    from perpflow.venue.server import VenueServer

    with VenueServer(demo_datadir, mode="history", port=0) as venue:
        yield venue


@pytest.fixture(scope="session")
def demo_overlay(demo_venue, tmp_path_factory) -> Path:
    from perpflow.venue.overlay import exchange_overlay

    path = tmp_path_factory.mktemp("cfg") / "config.venue.json"
    return write_json(path, exchange_overlay(demo_venue.url))
