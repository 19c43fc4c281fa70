"""The figures the status page shows, as plain values: the HTML page and /status.json are two
renderings of one `StatusFigures`. Money is in nano-dollars (the ledger's exact integers)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Percentiles:
    """p50 and p95 in milliseconds over `samples` calls; None when there were none."""

    samples: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True)
class DeploymentFigures:
    """One configured deployment: live state from the metrics, the last hour from the ledger."""

    deployment: str
    provider: str
    model: str
    # llmgateway_breaker_state: 0 closed, 1 half-open, 2 open; None before its first attempt.
    breaker_state: int | None
    # llmgateway_upstream_attempts since the process (or supervisor) started.
    attempts: int
    failed_attempts: int
    # Calls the ledger names this deployment for in the last hour (the deployment tried last).
    calls_last_hour: int
    failed_calls_last_hour: int
    # Of the calls that ended OK in the last hour.
    latency: Percentiles
    ttft: Percentiles

    @property
    def error_rate(self) -> float | None:
        """Failed attempts over attempts; None before any attempt."""
        return self.failed_attempts / self.attempts if self.attempts else None


@dataclass(frozen=True)
class TenantSpend:
    """A tenant's spend per hour over the last day, oldest hour first (`hours` of the figures)."""

    tenant: str
    nano_usd_per_hour: list[int]

    @property
    def total_nano_usd(self) -> int:
        return sum(self.nano_usd_per_hour)


@dataclass(frozen=True)
class Usage:
    """Calls, tokens and spend of a key over a time range."""

    calls: int = 0
    tokens: int = 0
    nano_usd: int = 0


@dataclass(frozen=True)
class KeyFigures:
    """A configured key: what it may do (never its secret or hash) and what it did."""

    key_id: str
    name: str
    tenant: str
    revoked: bool
    labels: dict[str, str]
    models: list[str]
    rpm: int | None
    tpm: int | None
    max_concurrent: int | None
    budget_usd: float | None
    budget_period: str | None
    last_day: Usage
    # Since the start of the current budget period (a day's start without a budget).
    period_start_ms: int
    this_period: Usage

    @property
    def budget_used(self) -> float | None:
        """This period's spend over the budget; None without a budget."""
        if self.budget_usd is None:
            return None
        return self.this_period.nano_usd / 1e9 / self.budget_usd


@dataclass(frozen=True)
class StatusFigures:
    """Everything on the page, read at `now_ms`."""

    now_ms: int
    deployments: list[DeploymentFigures]
    # llmgateway_in_flight by method.
    in_flight: dict[str, int]
    # The start of each hour of the spend chart (ms since the epoch, UTC), oldest first.
    hours: list[int]
    tenants: list[TenantSpend]
    keys: list[KeyFigures]
    # The ledger figures: "ok", "off" (no ledger configured) or "unavailable" (its database failed).
    ledger: str = "ok"
    notes: list[str] = field(default_factory=list)
