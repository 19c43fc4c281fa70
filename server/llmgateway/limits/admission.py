"""Admission: rate limits, concurrency and budgets of a key and its tenant, checked before a call
and settled after it with the real usage and cost.

RPM takes one token per call; TPM reserves an estimate (prompt estimate + max output tokens) and
is reconciled with the real usage afterwards — for streams too, including cancelled or cut ones,
whose usage is the part the caller received. Budgets are per calendar period in a time zone
(budget_periods.py), their counters kept true to the spend ledger (budget_book.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from google.rpc import error_details_pb2

from llmgateway.auth.directory import Directory
from llmgateway.auth.keys import Principal
from llmgateway.config import BudgetSettings, GatewayConfig, RateLimits
from llmgateway.errors import GatewayError
from llmgateway.limits.backend import Bucket, Denial, LimitBackend
from llmgateway.limits.budget_book import BudgetBook, BudgetCounter, HolderKind, SpendUnavailableError
from llmgateway.limits.budget_periods import budget_zone, period_containing
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2

_log = logging.getLogger(__name__)
_CONCURRENCY_RETRY_S = 1.0
# A refusal because the ledger cannot be read (failing closed): when to try again.
_LEDGER_RETRY_AFTER_S = 5.0
# Leases of concurrency slots are short (store.concurrency_lease_s) and renewed while their calls
# live, this many times per lease: a replica that dies frees its slots within one lease.
_RENEWALS_PER_LEASE = 3


def rpm_bucket(key: str, rpm: int) -> Bucket:
    return Bucket(f"rpm:{key}", capacity=rpm, refill_per_s=rpm / 60)


def tpm_bucket(key: str, tpm: int) -> Bucket:
    return Bucket(f"tpm:{key}", capacity=tpm, refill_per_s=tpm / 60)


@dataclass
class Scope:
    """One holder of limits: a key or a tenant."""

    name: HolderKind  # "key" or "tenant": the metric's scope label
    key: str  # e.g. "key:ab12cd34"
    limits: RateLimits
    holder: str  # the key's id or the tenant's name, as the ledger records it


@dataclass(frozen=True)
class _Budget:
    scope: Scope
    settings: BudgetSettings
    zone: ZoneInfo


@dataclass(frozen=True)
class _Plan:
    """What admission checks for one key: made once per key and config, not on every call."""

    scopes: list[Scope]
    # The key's, then the tenant's; for each scope RPM before TPM (the first bucket to refuse
    # names the error). True marks a TPM bucket, which takes the call's token estimate.
    buckets: list[tuple[Bucket, bool]]
    tpm_buckets: list[Bucket]
    budgets: list[_Budget]


@dataclass
class Ticket:
    """What admission took for one call, to settle when it ends."""

    plan: _Plan
    tpm_estimate: int
    leases: list[tuple[str, str]] = field(default_factory=list)  # (concurrency key, lease id)
    # The budget periods the call was admitted in: its cost is charged there, as the ledger (which
    # dates a call by its start) counts it, even when the call ends in the next period.
    budget_counters: list[BudgetCounter] = field(default_factory=list)


def _quota_error(scope: Scope, what: str, description: str, retry_after: float | None) -> GatewayError:
    reason = (
        Reason.BUDGET_EXCEEDED
        if what == "budget"
        else Reason.RATE_LIMITED
        if what in ("rpm", "tpm")
        else Reason.CONCURRENCY_LIMITED
    )
    return GatewayError(
        reason,
        f"{scope.name} {what} limit reached: {description}",
        metadata={"scope": scope.name, "limit": what},
        retry_after=retry_after,
        quota_violations=[
            error_details_pb2.QuotaFailure.Violation(subject=scope.key, description=f"{what}: {description}")
        ],
    )


class Admission:
    """Checks and settles the limits of keys and tenants on one backend."""

    def __init__(
        self,
        backend: LimitBackend,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        budgets: BudgetBook | None = None,
        directory: Directory | None = None,
    ) -> None:
        """`budgets`: the process's budget counters (store/shared.py); by default counters on
        `backend` with no ledger behind them."""
        self._backend = backend
        self._tenants = {tenant.name: tenant for tenant in config.tenants}
        # Tenants and keys made at run time (the AdminService): a change of their revision drops
        # the plans made from the previous one.
        self._directory = directory
        self._revision = -1
        self._metrics = metrics
        self._budgets = budgets or BudgetBook(backend)
        self._wall = self._budgets.wall
        self._default_zone = config.budgets.time_zone
        # Per key id: a key's policy and tenant are fixed for the life of this object (a reload
        # makes a new one) or of the directory's revision, so this holds at most one plan per key.
        self._plans: dict[str, _Plan] = {}
        self.waits = backend.waits
        self._lease_s = config.store.concurrency_lease_s
        # Leases held by calls in flight (lease -> its key), renewed together by one task.
        self._held: dict[str, str] = {}
        self._renewer: asyncio.Task[None] | None = None

    def scopes(self, principal: Principal) -> list[Scope]:
        scopes = [Scope("key", f"key:{principal.key_id}", principal.policy, principal.key_id)]
        tenant = self._tenants.get(principal.tenant)
        if tenant is None and self._directory is not None:
            tenant = self._directory.current.tenants.get(principal.tenant)
        if tenant is not None:
            scopes.append(Scope("tenant", f"tenant:{tenant.name}", tenant, tenant.name))
        return scopes

    def _plan(self, principal: Principal) -> _Plan:
        if self._directory is not None and self._directory.current.revision != self._revision:
            self._plans.clear()
            self._revision = self._directory.current.revision
        plan = self._plans.get(principal.key_id)
        if plan is None:
            scopes = self.scopes(principal)
            buckets: list[tuple[Bucket, bool]] = []
            for scope in scopes:
                if scope.limits.rpm:
                    buckets.append((rpm_bucket(scope.key, scope.limits.rpm), False))
                if scope.limits.tpm:
                    buckets.append((tpm_bucket(scope.key, scope.limits.tpm), True))
            budgets = [
                _Budget(scope, budget, budget_zone(budget, self._default_zone))
                for scope in scopes
                if (budget := scope.limits.budget) is not None
            ]
            plan = _Plan(scopes, buckets, [bucket for bucket, tpm in buckets if tpm], budgets)
            self._plans[principal.key_id] = plan
        return plan

    async def admit(self, principal: Principal, tpm_estimate: int, at: float | None = None) -> Ticket:
        """Take what the call needs, or refuse with RESOURCE_EXHAUSTED (QuotaFailure, and RetryInfo
        when waiting helps). Nothing is taken when the call is refused. `at`: when the call started
        (epoch seconds; default now), which dates it for budgets as the ledger dates its record."""
        plan = self._plan(principal)
        scopes = plan.scopes
        counters = []
        if plan.budgets:
            now = self._wall() if at is None else at
            for budget in plan.budgets:
                counters.append(await self._check_budget(budget, now))
        demands = [(bucket, tpm_estimate if tpm else 1) for bucket, tpm in plan.buckets]
        ticket = Ticket(plan, tpm_estimate, budget_counters=counters)
        if demands:
            result = await self._backend.reserve(demands)
            if not result.granted:
                assert result.denial is not None
                raise self._denied(scopes, result.denial, tpm_estimate)
        try:
            for scope in scopes:
                if scope.limits.max_concurrent:
                    lease = await self._backend.acquire_concurrency(
                        f"concurrent:{scope.key}", scope.limits.max_concurrent, self._lease_s
                    )
                    if lease is None:
                        self._metrics.ratelimit_rejections.labels(scope.name).inc()
                        raise _quota_error(
                            scope,
                            "concurrency",
                            f"{scope.limits.max_concurrent} calls at once",
                            _CONCURRENCY_RETRY_S,
                        )
                    ticket.leases.append((f"concurrent:{scope.key}", lease))
                    self._hold(f"concurrent:{scope.key}", lease)
        except GatewayError:
            await self._release(ticket)
            await self._backend.adjust([(bucket, -amount) for bucket, amount in demands])
            raise
        return ticket

    def _denied(self, scopes: list[Scope], denial: Denial, estimate: int) -> GatewayError:
        kind, _, key = denial.bucket.key.partition(":")
        scope = next(s for s in scopes if s.key == key)
        self._metrics.ratelimit_rejections.labels(scope.name).inc()
        per_minute = int(denial.bucket.capacity)
        if kind == "tpm" and denial.retry_after_s is None:
            description = f"{per_minute} tokens per minute; this call needs about {estimate}"
        else:
            description = f"{per_minute} {'tokens' if kind == 'tpm' else 'calls'} per minute"
        return _quota_error(scope, kind, description, denial.retry_after_s)

    async def _check_budget(self, budget: _Budget, now: float) -> BudgetCounter:
        """The counter of the budget's current period, or BUDGET_EXCEEDED when it is spent."""
        scope, settings = budget.scope, budget.settings
        period = period_containing(settings.period, budget.zone, now)
        counter = BudgetCounter(scope.name, scope.holder, period)
        try:
            spent = await self._budgets.spent(counter)
        except SpendUnavailableError:
            raise GatewayError(
                Reason.LIMITS_UNAVAILABLE,
                f"the {scope.name}'s spend this {settings.period} is not known: the spend ledger "
                "cannot be read, and this gateway refuses calls until it can (store.fail_open: false)",
                retry_after=_LEDGER_RETRY_AFTER_S,
            ) from None
        if spent >= settings.usd:
            self._metrics.ratelimit_rejections.labels(scope.name).inc()
            # No RetryInfo: retrying is pointless until the period resets (the message says when).
            raise _quota_error(
                scope,
                "budget",
                f"${spent:.4f} of ${settings.usd:g} per {settings.period} spent "
                f"({period.label}, {period.zone}; the next {settings.period} starts {period.ends_at})",
                None,
            )
        return counter

    async def settle(self, ticket: Ticket, usage: chat_pb2.Usage) -> None:
        """Reconcile TPM with the real usage, charge the cost to budgets, free concurrency slots."""
        actual = usage.total_tokens or usage.input_tokens + usage.output_tokens
        tpm_buckets = ticket.plan.tpm_buckets
        if tpm_buckets and actual != ticket.tpm_estimate:
            await self._backend.adjust([(bucket, actual - ticket.tpm_estimate) for bucket in tpm_buckets])
        if usage.cost_usd:
            for counter in ticket.budget_counters:
                await self._budgets.charge(counter, usage.cost_usd)
        await self._release(ticket)

    async def _release(self, ticket: Ticket) -> None:
        for key, lease in ticket.leases:
            self._held.pop(lease, None)
            await self._backend.release_concurrency(key, lease)
        ticket.leases.clear()

    def _hold(self, key: str, lease: str) -> None:
        self._held[lease] = key
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_while_held())

    async def _renew_while_held(self) -> None:
        """One task for all of this process's leases (not one per call): every third of a lease,
        extend every lease still held in one call to the store. Ends when none is held."""
        while self._held:
            await asyncio.sleep(self._lease_s / _RENEWALS_PER_LEASE)
            held = [(key, lease) for lease, key in self._held.items()]
            if not held:
                break
            try:
                await self._backend.renew_concurrency(held, self._lease_s)
            except Exception:  # the next round tries again; a lease lost meanwhile frees its slot
                _log.warning("renewing %d concurrency leases failed", len(held), exc_info=True)
