"""A force exit ends the execution policy's work on the parent: Freqtrade cancels a resting child
("forcesold") and exits on the next request, so no new child may come in between."""

from __future__ import annotations

from types import SimpleNamespace

from freqtrade.constants import CANCEL_REASON

from perpflow.strategy.execution_orders import _force_exit_asked


def _trade(*reasons):
    return SimpleNamespace(orders=[SimpleNamespace(ft_cancel_reason=r) for r in reasons])


def test_only_a_force_exit_cancellation_stops_the_parent():
    assert not _force_exit_asked(_trade())
    assert not _force_exit_asked(_trade(None, CANCEL_REASON["TIMEOUT"]))  # a maker timeout
    assert _force_exit_asked(_trade(None, CANCEL_REASON["FORCE_EXIT"]))
