"""Budget spend that survives a restart or a Redis flush: the counters in the limits store (memory or
Redis) are kept at least at the spend ledger's truth.

- **Seeding**: a counter the store does not hold (a new period, a restart of the memory store, a
  Redis flush or eviction) is created from the ledger's sum for its key or tenant since the
  period's start, before the call it was read for is admitted.
- **Reconciling**: every `budgets.reconcile_interval_s`, each counter this process used lately is
  raised to the ledger's sum for its period: spend it missed (another replica's memory store, a
  charge dropped while Redis was away, records that were still queued when it was seeded).

Both only ever *raise* a counter to the ledger's sum (one atomic max in the store), never add to
it and never lower it. So two replicas seeding one counter at once leave it at the sum, counted
once; a charge the counter holds and the ledger already has counts once too; and spend the ledger
has not seen yet (records queued in a writer or spooled while its database is away) stays
counted. The counter can lag the truth only by charges it never got whose records the ledger had
not committed at the last reconciliation: closed within one interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from llmgateway.config import BudgetsSettings
from llmgateway.limits.backend import LimitBackend
from llmgateway.limits.budget_periods import BudgetPeriod

_log = logging.getLogger(__name__)

HolderKind = Literal["key", "tenant"]
# A counter not used for this many reconciliation rounds is no longer reconciled (its key or tenant
# has no calls here); its next use reads the store, and it is reconciled again from then on.
_IDLE_ROUNDS = 10
# A ledger that failed costs at most one wait (seed_timeout_s) per this long, not one per call.
_LEDGER_RETRY_S = 5.0


class SpendUnavailableError(Exception):
    """The ledger could not say what was spent (unreachable, too slow, its table missing)."""


class SpendLedger(Protocol):
    """The spend of record: what keys or tenants spent in a time range (ledger/spend.py)."""

    async def spent(
        self, kind: HolderKind, holders: Sequence[str], start_s: float, end_s: float
    ) -> dict[str, float]:
        """US dollars per holder (absent: nothing) in [start_s, end_s); SpendUnavailableError when it cannot say."""
        ...


@dataclass(frozen=True)
class BudgetCounter:
    """One key's or tenant's spend in one budget period: where the store keeps it, and which ledger
    rows it is the sum of."""

    kind: HolderKind
    holder: str  # the key id or the tenant's name
    period: BudgetPeriod

    @property
    def store_key(self) -> str:
        # The kind and zone are part of the key: a budget moved to another period or zone starts a
        # counter of its own, seeded from the ledger, rather than inheriting another period's spend.
        period = self.period
        return f"budget:{self.kind}:{self.holder}:{period.kind}:{period.zone}:{period.label}"


@dataclass
class _InUse:
    counter: BudgetCounter
    used_at: float = 0.0  # clock seconds


class BudgetBook:
    """The budget counters of one process, in its limits store, kept true to the ledger (when there
    is one). Made once per process: it outlives config reloads."""

    def __init__(
        self,
        store: LimitBackend,
        ledger: SpendLedger | None = None,
        settings: BudgetsSettings | None = None,
        *,
        fail_open: bool = True,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._settings = settings or BudgetsSettings()
        self._fail_open = fail_open
        self.wall = wall
        self._clock = clock
        self._in_use: dict[str, _InUse] = {}
        # One seeding per counter at a time: the calls that find it missing together wait for it.
        self._seeding: dict[str, asyncio.Task[float]] = {}
        self._ledger_down = False
        self._retry_at = 0.0  # clock seconds: a ledger that failed is not asked again before
        self._reconciler: asyncio.Task[None] | None = None

    def configure(self, settings: BudgetsSettings) -> None:
        """New settings (a config reload), the reconciliation's interval at once: its wait starts
        again (an hour's wait must not hold back a reload to seconds)."""
        interval_changed = settings.reconcile_interval_s != self._settings.reconcile_interval_s
        self._settings = settings
        if interval_changed and self._reconciler is not None:
            # Cancelling a round half-way loses nothing: each of its steps only raises a counter.
            self._reconciler.cancel()
            self._reconciler = asyncio.get_running_loop().create_task(self._reconcile_forever())

    async def spent(self, counter: BudgetCounter) -> float:
        """The counter's spend, seeded from the ledger when the store has none. SpendUnavailableError
        when it had to be seeded, the ledger could not say, and the store fails closed."""
        total = await self._store.get_spend(counter.store_key)
        if self._ledger is None:
            return total or 0.0
        self._use(counter)
        if total is not None:
            return total
        return await self._seeded(counter)

    async def charge(self, counter: BudgetCounter, usd: float) -> None:
        """Add a settled call's cost to the counter of the period it was admitted in."""
        await self._store.add_spend(counter.store_key, usd, counter.period.end)
        if self._ledger is not None:
            self._use(counter)

    def _use(self, counter: BudgetCounter) -> None:
        in_use = self._in_use.get(counter.store_key)
        if in_use is None:
            in_use = self._in_use[counter.store_key] = _InUse(counter)
        in_use.used_at = self._clock()

    async def _seeded(self, counter: BudgetCounter) -> float:
        key = counter.store_key
        seeding = self._seeding.get(key)
        if seeding is None:
            seeding = asyncio.get_running_loop().create_task(self._seed(counter))
            self._seeding[key] = seeding
            seeding.add_done_callback(self._seeded_done)
        # Shielded: a caller that goes away must not cancel the seeding the others wait for.
        return await asyncio.shield(seeding)

    def _seeded_done(self, seeding: asyncio.Task[float]) -> None:
        for key, task in list(self._seeding.items()):
            if task is seeding:
                del self._seeding[key]
        if not seeding.cancelled():
            seeding.exception()  # retrieved: every caller waiting for it may have gone away

    async def _seed(self, counter: BudgetCounter) -> float:
        try:
            sums = await self._ledger_sums(counter.kind, [counter.holder], counter.period)
        except SpendUnavailableError:
            if not self._fail_open:
                raise
            # Failing open: the counter as the store has it (charges made meanwhile, else 0); the
            # reconciliation raises it once the ledger answers.
            return await self._store.get_spend(counter.store_key) or 0.0
        return await self._store.raise_spend(
            counter.store_key, sums.get(counter.holder, 0.0), counter.period.end
        )

    async def _ledger_sums(
        self, kind: HolderKind, holders: Sequence[str], period: BudgetPeriod
    ) -> dict[str, float]:
        """The ledger's sums, within seed_timeout_s; SpendUnavailableError when it fails, and at once
        while a failed ledger's retry interval runs (a dead database must not cost every call a
        timeout)."""
        assert self._ledger is not None
        if self._ledger_down and self._clock() < self._retry_at:
            raise SpendUnavailableError("the ledger failed a moment ago")
        try:
            async with asyncio.timeout(self._settings.seed_timeout_s):
                sums = await self._ledger.spent(kind, holders, period.start, period.end)
        except (SpendUnavailableError, TimeoutError) as error:
            self._ledger_failed(error)
            raise SpendUnavailableError(str(error)) from None
        if self._ledger_down:
            self._ledger_down = False
            _log.info("budgets: the spend ledger answers again; counters are reconciled with it")
        return sums

    def _ledger_failed(self, error: BaseException) -> None:
        # While it fails, the ledger is asked again (by a call or the reconciler) once per
        # reconciliation interval, at most every _LEDGER_RETRY_S.
        self._retry_at = self._clock() + min(self._settings.reconcile_interval_s, _LEDGER_RETRY_S)
        if self._ledger_down:
            return
        self._ledger_down = True
        what = "timed out" if isinstance(error, TimeoutError) else str(error)
        # Expected (a database restart or failover): a WARNING, and budgets go on from the store.
        _log.warning(
            "budgets: the spend ledger cannot say what was spent (%s); budgets go on from the limits "
            "store's counters, and a counter the store lacks is %s until it answers",
            what,
            "counted from 0" if self._fail_open else "refused (store.fail_open: false)",
        )

    # -- reconciliation --------------------------------------------------------------------------

    def start(self) -> None:
        """Reconcile every `reconcile_interval_s` until `aclose` (nothing to do without a ledger)."""
        if self._ledger is not None and self._reconciler is None:
            self._reconciler = asyncio.get_running_loop().create_task(self._reconcile_forever())

    async def aclose(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
            await asyncio.gather(self._reconciler, return_exceptions=True)
            self._reconciler = None

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.reconcile_interval_s)
            try:
                await self.reconcile()
            except Exception:  # a bug: logged, and the next round tries again
                _log.exception("budgets: reconciling with the spend ledger failed")

    async def reconcile(self) -> None:
        """One round: every counter in use raised to the ledger's sum for its period, with one query
        per kind and period (most keys share their period)."""
        now, idle_before = self.wall(), self._clock() - _IDLE_ROUNDS * self._settings.reconcile_interval_s
        groups: dict[tuple[HolderKind, BudgetPeriod], list[BudgetCounter]] = {}
        for key, in_use in list(self._in_use.items()):
            counter = in_use.counter
            if counter.period.end <= now or in_use.used_at < idle_before:
                del self._in_use[key]
                continue
            groups.setdefault((counter.kind, counter.period), []).append(counter)
        for (kind, period), counters in groups.items():
            try:
                sums = await self._ledger_sums(kind, [counter.holder for counter in counters], period)
            except SpendUnavailableError:
                return  # logged once; the next round tries again
            for counter in counters:
                await self._store.raise_spend(counter.store_key, sums.get(counter.holder, 0.0), period.end)
