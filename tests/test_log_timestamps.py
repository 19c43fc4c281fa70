"""The JSON log's timestamps: formatted once per second, yet exactly what datetime would write."""

from __future__ import annotations

import datetime
import random

from llmgateway.observability.logging_setup import UtcTimestamps


def by_datetime(created: float) -> str:
    return datetime.datetime.fromtimestamp(created, datetime.UTC).isoformat(timespec="milliseconds")


def test_timestamps_match_datetime_to_the_character() -> None:
    timestamps = UtcTimestamps()
    rng = random.Random(8)
    second = 1_795_000_000
    cases = [
        second + 0.0,
        second + 0.0005,
        second + 0.9994999,
        second + 0.9999994,
        second + 0.9999996,  # rounds up into the next second, as datetime rounds it
        second + 1.0,
        4_102_444_799.9995,  # the last millisecond of 2099
        951_782_400.25,  # 2000-02-29
    ]
    # Random times, in order and out of order, so the once-per-second cache is both hit and missed.
    walk = [second + rng.uniform(0, 5) for _ in range(2_000)]
    cases += sorted(walk) + walk
    for created in cases:
        assert timestamps(created) == by_datetime(created), created
