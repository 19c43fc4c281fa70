"""Budget periods: the calendar day, ISO week (Monday first) or month that contains a moment, in an
IANA time zone, as the two instants where it starts and ends.

The one place period boundaries are computed, so the counters in the limits store and the sums read
from the spend ledger cover exactly the same calls. A period starts at a local midnight: a day is 23
or 25 hours long across a daylight-saving change, and where a zone skips midnight itself (clocks
jump from 00:00 to 01:00) the period starts at the first instant of its day that exists.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from llmgateway.config import BudgetSettings

PeriodKind = Literal["day", "week", "month"]


@dataclass(frozen=True)
class BudgetPeriod:
    kind: PeriodKind
    zone: str  # the IANA name, e.g. "Europe/Berlin"
    label: str  # the period in its zone: "2026-03-29", "2026-W13", "2026-03"
    start: float  # epoch seconds, the period's first instant
    end: float  # epoch seconds, the next period's first instant (not in this one)

    @property
    def ends_at(self) -> str:
        """The end as local time with its offset, for messages: 2026-04-01T00:00:00+02:00."""
        return datetime.datetime.fromtimestamp(self.end, ZoneInfo(self.zone)).isoformat()


def period_containing(kind: PeriodKind, zone: ZoneInfo, now: float) -> BudgetPeriod:
    """The `kind` period of `zone` that contains the instant `now` (epoch seconds)."""
    today = datetime.datetime.fromtimestamp(now, zone).date()
    if kind == "day":
        first, after = today, today + datetime.timedelta(days=1)
        label = first.isoformat()
    elif kind == "week":
        first = today - datetime.timedelta(days=today.weekday())
        after = first + datetime.timedelta(days=7)
        year, week, _ = first.isocalendar()
        label = f"{year}-W{week:02d}"
    else:
        first = today.replace(day=1)
        after = (first + datetime.timedelta(days=32)).replace(day=1)
        label = first.strftime("%Y-%m")
    return BudgetPeriod(kind, zone.key, label, _first_instant(first, zone), _first_instant(after, zone))


def _first_instant(day: datetime.date, zone: ZoneInfo) -> float:
    """The first instant of `day` in `zone`. Local midnight with fold=0 is exactly that: a midnight
    skipped by a clock change (in the gap) maps with the offset from before the change, which
    lands on the first local time that exists (01:00); a midnight that happens twice maps to its
    first occurrence. A day a zone skipped altogether (Pacific/Apia, 2011-12-30) starts where the
    next one does, so the previous day ends there too."""
    return datetime.datetime.combine(day, datetime.time(), tzinfo=zone).timestamp()


def budget_zone(budget: BudgetSettings | None, default: str) -> ZoneInfo:
    """The time zone a budget's periods are counted in: its own, else the config's default."""
    return ZoneInfo((budget.time_zone if budget else None) or default)
