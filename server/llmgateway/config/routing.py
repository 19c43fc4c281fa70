"""How calls are spread, retried, failed over and shed: retries, breakers, and rules that route by
who calls, what is asked and when."""

from __future__ import annotations

import zoneinfo
from typing import Literal

from pydantic import Field, field_validator, model_validator

from llmgateway.config.common import Seconds, Strict
from llmgateway.config.models import Strategy


class RetrySettings(Strict):
    """Retries per deployment: exponential backoff with full jitter, Retry-After honoured, and a
    budget so retries add at most `budget_ratio` extra load (plus `min_retries_per_s`)."""

    max_retries: int = Field(default=2, ge=0)
    base_delay_s: float = Field(default=0.1, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_delay_s: float = Field(default=10.0, ge=0)
    budget_ratio: float = Field(default=0.2, ge=0)
    min_retries_per_s: float = Field(default=3.0, ge=0)
    budget_window_s: Seconds = 10.0


class BreakerSettings(Strict):
    """Circuit breaker per deployment."""

    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=10, gt=0)
    window_s: Seconds = 30.0
    consecutive_failures: int = Field(default=5, gt=0)
    open_s: Seconds = 30.0
    half_open_probes: int = Field(default=3, gt=0)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class TimeWindow(Strict):
    """A time of day range (it may wrap past midnight), on some weekdays, in a time zone."""

    start: str = Field(pattern=_CLOCK_TIME)
    end: str = Field(pattern=_CLOCK_TIME)
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class RuleMatch(Strict):
    """Conditions of a rule; all given ones must hold. Strings are globs."""

    model: str | None = None
    tenant: str | None = None
    key: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    time: TimeWindow | None = None


class RuleAction(Strict):
    """What a matching rule does: reject, or route to a model or a deployment list, optionally
    with another strategy."""

    reject: str | None = None
    model: str | None = None
    deployments: list[str] = Field(default_factory=list)
    strategy: Strategy | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RuleAction:
        if self.reject is not None and (self.model or self.deployments or self.strategy):
            raise ValueError("a rule that rejects cannot also route")
        if self.model and self.deployments:
            raise ValueError("route to a model or to deployments, not both")
        if self.reject is None and not (self.model or self.deployments or self.strategy):
            raise ValueError("an action needs reject, model, deployments or strategy")
        return self


class RuleSettings(Strict):
    """One routing rule; rules are tried in order and the first that matches applies."""

    name: str = Field(min_length=1)
    match: RuleMatch = RuleMatch()
    action: RuleAction


class RoutingSettings(Strict):
    """How calls are spread, retried, failed over and shed."""

    rules: list[RuleSettings] = Field(default_factory=list)

    # A call without a caller deadline is bounded by this (with one, by the deadline).
    max_call_s: Seconds = 300.0
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    # Load shedding: calls beyond this many in flight get UNAVAILABLE with RetryInfo at once.
    max_concurrent_calls: int = Field(default=1000, gt=0)
    # EWMA smoothing for the latency strategy (weight of the newest sample).
    latency_ewma_alpha: float = Field(default=0.3, gt=0, le=1)
