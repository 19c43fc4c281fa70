"""The routing rules engine: ordered rules, first match wins.

A rule matches on the requested model, the caller's tenant or key, request labels, the estimated
prompt size and the time of day (all globs where they are strings); its action rejects the call,
or routes it to another model or to a list of deployments, possibly with another strategy.
"""

from __future__ import annotations

import datetime
import fnmatch
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmgateway.config import WEEKDAYS, RuleMatch, RuleSettings, TimeWindow


@dataclass(frozen=True)
class Caller:
    """Who is calling, as authentication established it (anonymous when auth is off)."""

    tenant: str | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class RoutingFacts:
    """What rules can see of a call."""

    model: str
    prompt_tokens: int
    now: datetime.datetime
    caller: Caller = Caller()
    labels: Mapping[str, str] = field(default_factory=dict)


def _glob(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    return value is not None and fnmatch.fnmatchcase(value, pattern)


def _minutes(clock_time: str) -> int:
    hours, minutes = clock_time.split(":")
    return int(hours) * 60 + int(minutes)


def in_window(window: TimeWindow, now: datetime.datetime) -> bool:
    """Whether `now` falls in the window; a window whose end is before its start wraps past
    midnight and belongs to the weekday it started on."""
    local = now.astimezone(zoneinfo.ZoneInfo(window.timezone))
    minute = local.hour * 60 + local.minute
    start, end = _minutes(window.start), _minutes(window.end)
    weekday = WEEKDAYS[local.weekday()]
    if start <= end:
        return start <= minute < end and weekday in window.days
    if minute >= start:
        return weekday in window.days
    previous_day = WEEKDAYS[(local.weekday() - 1) % 7]
    return minute < end and previous_day in window.days


def matches(match: RuleMatch, facts: RoutingFacts) -> bool:
    """Whether every condition of `match` holds for the call."""
    return (
        _glob(match.model, facts.model)
        and _glob(match.tenant, facts.caller.tenant)
        and _glob(match.key, facts.caller.key_id)
        and all(_glob(pattern, facts.labels.get(name)) for name, pattern in match.labels.items())
        and (match.min_prompt_tokens is None or facts.prompt_tokens >= match.min_prompt_tokens)
        and (match.max_prompt_tokens is None or facts.prompt_tokens <= match.max_prompt_tokens)
        and (match.time is None or in_window(match.time, facts.now))
    )


class RuleSet:
    """The configured rules, in order."""

    def __init__(self, rules: list[RuleSettings]) -> None:
        self.rules = rules

    def first_match(self, facts: RoutingFacts) -> RuleSettings | None:
        return next((rule for rule in self.rules if matches(rule.match, facts)), None)
