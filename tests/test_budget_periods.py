"""Budget period boundaries: local midnights in an IANA time zone, across daylight-saving changes
(including zones whose clocks skip midnight itself), month and year ends, ISO weeks."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from llmgateway.limits.budget_periods import PeriodKind, period_containing


def local(instant: float, zone: str) -> str:
    return datetime.datetime.fromtimestamp(instant, ZoneInfo(zone)).isoformat()


def period(kind: PeriodKind, zone: str, iso: str) -> tuple[str, str, str, float]:
    """(label, start, end as local ISO times, length in hours) of the period containing `iso`."""
    found = period_containing(kind, ZoneInfo(zone), datetime.datetime.fromisoformat(iso).timestamp())
    assert found.kind == kind and found.zone == zone
    return found.label, local(found.start, zone), local(found.end, zone), (found.end - found.start) / 3600


@pytest.mark.parametrize(
    ("kind", "zone", "moment", "expected"),
    [
        # Berlin's spring-forward and fall-back days: 23 and 25 hours, midnight to midnight.
        ("day", "Europe/Berlin", "2026-03-29T12:00:00+02:00",
         ("2026-03-29", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 23.0)),
        ("day", "Europe/Berlin", "2026-10-25T12:00:00+01:00",
         ("2026-10-25", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 25.0)),
        # Santiago skips midnight (00:00 becomes 01:00): the day starts at its first real instant.
        ("day", "America/Santiago", "2026-09-05T12:00:00-04:00",
         ("2026-09-05", "2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00", 24.0)),
        ("day", "America/Santiago", "2026-09-06T12:00:00-03:00",
         ("2026-09-06", "2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00", 23.0)),
        # Lord Howe moves its clocks by half an hour.
        ("day", "Australia/Lord_Howe", "2026-10-04T12:00:00+11:00",
         ("2026-10-04", "2026-10-04T00:00:00+10:30", "2026-10-05T00:00:00+11:00", 23.5)),
        # Samoa skipped 30 December 2011: the 29th ends where the 31st begins.
        ("day", "Pacific/Apia", "2011-12-29T12:00:00-10:00",
         ("2011-12-29", "2011-12-29T00:00:00-10:00", "2011-12-31T00:00:00+14:00", 24.0)),
        ("day", "Pacific/Apia", "2011-12-31T00:00:00+14:00",
         ("2011-12-31", "2011-12-31T00:00:00+14:00", "2012-01-01T00:00:00+14:00", 24.0)),
        # Months: a leap February, a year's end, and a month that starts in summer time.
        ("month", "UTC", "2028-02-29T23:59:59+00:00",
         ("2028-02", "2028-02-01T00:00:00+00:00", "2028-03-01T00:00:00+00:00", 29 * 24.0)),
        ("month", "UTC", "2026-12-31T23:59:59+00:00",
         ("2026-12", "2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00", 31 * 24.0)),
        ("month", "Europe/Berlin", "2026-03-15T12:00:00+01:00",
         ("2026-03", "2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00", 31 * 24.0 - 1)),
        # ISO weeks from Monday: 2026 has a week 53, which ends in 2027.
        ("week", "UTC", "2027-01-03T23:59:59+00:00",
         ("2026-W53", "2026-12-28T00:00:00+00:00", "2027-01-04T00:00:00+00:00", 168.0)),
        ("week", "UTC", "2027-01-04T00:00:00+00:00",
         ("2027-W01", "2027-01-04T00:00:00+00:00", "2027-01-11T00:00:00+00:00", 168.0)),
        ("week", "America/New_York", "2026-11-04T12:00:00-05:00",
         ("2026-W45", "2026-11-02T00:00:00-05:00", "2026-11-09T00:00:00-05:00", 168.0)),
        ("week", "America/New_York", "2026-11-01T12:00:00-05:00",
         ("2026-W44", "2026-10-26T00:00:00-04:00", "2026-11-02T00:00:00-05:00", 169.0)),
    ],
)  # fmt: skip
def test_boundaries(kind: PeriodKind, zone: str, moment: str, expected: tuple[str, str, str, float]) -> None:
    assert period(kind, zone, moment) == expected


def test_the_same_instant_is_in_different_months_by_zone() -> None:
    moment = "2026-03-31T22:30:00+00:00"  # 00:30 on 1 April in Berlin
    assert period("month", "UTC", moment)[0] == "2026-03"
    assert period("month", "Europe/Berlin", moment)[0] == "2026-04"
    assert period("month", "Europe/Berlin", moment)[1] == "2026-04-01T00:00:00+02:00"


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe", "Pacific/Apia"]
)
@pytest.mark.parametrize("kind", ["day", "week", "month"])
def test_periods_tile_time_without_gaps_or_overlaps(kind: PeriodKind, zone: str) -> None:
    """Every 100 minutes through a year of changes: the period contains the instant, and the next
    period starts exactly where this one ends."""
    tz = ZoneInfo(zone)
    start = datetime.datetime(2011, 1, 1, tzinfo=datetime.UTC).timestamp()
    if zone != "Pacific/Apia":
        start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp()
    for step in range(366 * 24 * 60 // 100):
        now = start + step * 6000
        found = period_containing(kind, tz, now)
        assert found.start <= now < found.end
        assert period_containing(kind, tz, found.end).start == found.end
        assert period_containing(kind, tz, found.end - 0.001).label == found.label
