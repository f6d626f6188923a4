"""The ports of workforce planning (defined in ``core`` so adapters can implement them)."""

from __future__ import annotations

from contactcore.core.wfm import HistorySource, InteractionSummary, IntervalStat, IntervalStore

__all__ = ["HistorySource", "InteractionSummary", "IntervalStat", "IntervalStore"]
