"""Budgets' calendar and how their spend is kept true: the time zone of calendar periods, and the
reconciliation of each budget's counter with the spend ledger."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from llmgateway.config.common import Seconds, Strict


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: not even a zone's shape (an absolute path, `..`).
        raise ValueError(
            f"unknown time zone {name!r}: an IANA name such as UTC, Europe/Berlin or America/New_York"
        ) from None
    return name


# An IANA time zone name, checked against the system's time zone database at load.
TimeZone = Annotated[str, AfterValidator(_known_zone)]


class BudgetsSettings(Strict):
    """How budgets read the calendar and stay true to the spend ledger. A budget's counter (in this
    process's memory or in Redis) is seeded from the ledger's sum for its period when the store has
    none (a new period, a restart, a Redis flush), and raised to that sum every
    `reconcile_interval_s`; without a ledger, counters start from zero."""

    # The IANA time zone of calendar periods (day, week, month) for budgets that name none.
    time_zone: TimeZone = "UTC"
    # How often each budget counter in use is raised to the ledger's sum for its period (spend the
    # counter missed: another gateway's memory store, a Redis outage). Never lowered.
    reconcile_interval_s: Seconds = 30.0
    # How long a call waits for the ledger's sum when its budget counter must be seeded; longer
    # counts as the ledger being unreachable (store.fail_open then decides).
    seed_timeout_s: Seconds = 2.0
