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

    # Retries per deployment after the first attempt (transient failures only).
    max_retries: int = Field(default=2, ge=0)
    # The first backoff delay (full jitter: a random delay up to it).
    base_delay_s: float = Field(default=0.1, ge=0)
    # Each retry's delay cap is the previous times this.
    multiplier: float = Field(default=2.0, ge=1)
    # The largest backoff delay (Retry-After may ask for longer).
    max_delay_s: float = Field(default=10.0, ge=0)
    # Retries may add at most this share of the recent calls.
    budget_ratio: float = Field(default=0.2, ge=0)
    # Retries always allowed per second, whatever the ratio.
    min_retries_per_s: float = Field(default=3.0, ge=0)
    # How far back 'recent calls' reaches for the retry budget.
    budget_window_s: Seconds = 10.0


class BreakerSettings(Strict):
    """Circuit breaker per deployment."""

    # Open when this share of the calls in window_s failed (with at least min_calls).
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    # Calls in window_s before failure_rate can open the breaker.
    min_calls: int = Field(default=10, gt=0)
    # The sliding window failure_rate is measured over.
    window_s: Seconds = 30.0
    # Open after this many failures in a row.
    consecutive_failures: int = Field(default=5, gt=0)
    # How long the breaker stays open (longer if the upstream's Retry-After says so).
    open_s: Seconds = 30.0
    # Calls let through after open_s; their success closes the breaker.
    half_open_probes: int = Field(default=3, gt=0)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class TimeWindow(Strict):
    """A time of day range (it may wrap past midnight), on some weekdays, in a time zone."""

    # Start time of day, HH:MM.
    start: str = Field(pattern=_CLOCK_TIME)
    # End time of day, HH:MM (before start: the window wraps past midnight).
    end: str = Field(pattern=_CLOCK_TIME)
    # Weekdays the window applies on.
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    # IANA time zone of start and end.
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

    # The requested model name (glob).
    model: str | None = None
    # The caller's tenant (glob).
    tenant: str | None = None
    # The caller's key id (glob).
    key: str | None = None
    # Request labels that must match (values are globs).
    labels: dict[str, str] = Field(default_factory=dict)
    # Estimated prompt tokens at least this.
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    # Estimated prompt tokens at most this.
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    time: TimeWindow | None = None


class RuleAction(Strict):
    """What a matching rule does: reject, or route to a model or a deployment list, optionally
    with another strategy."""

    # Refuse the call with PERMISSION_DENIED ROUTE_REJECTED and this message.
    reject: str | None = None
    # Serve the call with this model instead.
    model: str | None = None
    # Serve the call with these deployment ids only.
    deployments: list[str] = Field(default_factory=list)
    # Pick among the deployments with this strategy instead.
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

    # Names the rule in logs and check-config errors.
    name: str = Field(min_length=1)
    match: RuleMatch = RuleMatch()
    action: RuleAction


class RoutingSettings(Strict):
    """How calls are spread, retried, failed over and shed."""

    # Tried in order; the first that matches applies.
    rules: list[RuleSettings] = Field(default_factory=list)

    # A call without a caller deadline is bounded by this (with one, by the deadline).
    max_call_s: Seconds = 300.0
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    # Load shedding: calls beyond this many in flight get UNAVAILABLE with RetryInfo at once.
    max_concurrent_calls: int = Field(default=1000, gt=0)
    # EWMA smoothing for the latency strategy (weight of the newest sample).
    latency_ewma_alpha: float = Field(default=0.3, gt=0, le=1)
