"""Where a key's current budget period began, for its spend against its budget.

Calendar periods in UTC, as limits/ admits them today (config: `budget.period` day or month). The
budget-period work (time zones, reconciliation with the ledger) replaces this one function."""

from __future__ import annotations

from datetime import UTC, datetime

DAY_MS = 86_400_000


def period_start_ms(period: str | None, now_ms: int) -> int:
    """The start of the period holding `now_ms`: the UTC day's midnight, or the first of the UTC
    month; without a period (no budget), the day's."""
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        start = start.replace(day=1)
    return int(start.timestamp() * 1000)
