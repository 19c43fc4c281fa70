"""The limit backends (memory and Redis) against one set of behaviours, plus what only Redis must prove:
atomicity across replicas and surviving an outage."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis.asyncio

from llmgateway.auth.keys import Principal
from llmgateway.config import GatewayConfig, KeyPolicy
from llmgateway.core.entry import settle
from llmgateway.errors import GatewayError
from llmgateway.limits.admission import Admission
from llmgateway.limits.backend import Bucket, LimitBackend, ReserveResult
from llmgateway.limits.memory import MemoryLimitBackend
from llmgateway.limits.redis_backend import RedisLimitBackend
from llmgateway.limits.resilient import ResilientLimitBackend
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.store.redis_client import redis_client
from llmgateway.v1 import chat_pb2
from tests.redis_server import RedisServer

pytest_plugins = ["tests.redis_fixtures"]


class FakeTime:
    """Monotonic and wall clocks that move only when told to."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_800_000_000.0

    async def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@dataclass
class Harness:
    """A backend, a way to let time pass for it, and how far its timings may stray from exact.

    Memory runs on injected time and is exact; Redis runs on its own clock, so time passes by real
    (short) sleeps and a bucket refills a little between the calls of a test.
    """

    backend: LimitBackend
    advance: Callable[[float], Awaitable[None]]
    wall: Callable[[], float]
    slack_s: float

    def assert_retry_after(self, result: ReserveResult, expected_s: float) -> None:
        assert not result.granted
        assert result.denial is not None
        retry = result.denial.retry_after_s
        assert retry is not None
        if self.slack_s == 0:
            assert retry == pytest.approx(expected_s)
        else:
            assert expected_s - self.slack_s <= retry <= expected_s + 1e-9


@pytest.fixture(params=["memory", "redis"])
async def limits(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        fake = FakeTime()
        memory = MemoryLimitBackend(clock=lambda: fake.mono, wall=lambda: fake.wall)
        yield Harness(memory, fake.advance, lambda: fake.wall, slack_s=0.0)
        return
    url: str = request.getfixturevalue("redis_url")
    client = redis_client(url)
    backend = RedisLimitBackend(client, key_prefix=request.getfixturevalue("redis_prefix"))
    yield Harness(backend, asyncio.sleep, time.time, slack_s=0.05)
    await client.aclose()


async def reserve(backend: LimitBackend, *demands: tuple[Bucket, float]) -> ReserveResult:
    return await backend.reserve(demands)


async def test_reserve_grants_until_empty_then_denies_with_retry_after(limits: Harness) -> None:
    rpm = Bucket("rpm:key:k1", capacity=5, refill_per_s=10)
    for _ in range(5):
        assert (await reserve(limits.backend, (rpm, 1))).granted
    denied = await reserve(limits.backend, (rpm, 1))
    assert denied.denial is not None and denied.denial.bucket == rpm
    limits.assert_retry_after(denied, 0.1)  # one token at 10/s
    assert denied.denial.retry_after_s is not None
    await limits.advance(denied.denial.retry_after_s + 0.005)
    assert (await reserve(limits.backend, (rpm, 1))).granted


async def test_reserve_is_all_or_nothing_across_buckets(limits: Harness) -> None:
    key = Bucket("tpm:key:k1", capacity=10, refill_per_s=0.001)
    tenant = Bucket("tpm:tenant:acme", capacity=2, refill_per_s=0.001)
    denied = await reserve(limits.backend, (key, 5), (tenant, 3))
    assert denied.denial is not None and denied.denial.bucket == tenant
    # Nothing was taken from `key`, though it had room: both buckets are still full.
    assert (await reserve(limits.backend, (key, 10), (tenant, 2))).granted
    denied = await reserve(limits.backend, (key, 1), (tenant, 0))
    assert denied.denial is not None and denied.denial.bucket == key


async def test_a_bucket_named_twice_is_charged_for_both(limits: Harness) -> None:
    bucket = Bucket("rpm:tenant:acme", capacity=3, refill_per_s=0.001)
    assert not (await reserve(limits.backend, (bucket, 2), (bucket, 2))).granted
    assert (await reserve(limits.backend, (bucket, 2), (bucket, 1))).granted
    assert not (await reserve(limits.backend, (bucket, 0.5))).granted


async def test_buckets_refill_over_time_up_to_capacity(limits: Harness) -> None:
    bucket = Bucket("rpm:deployment:openai/gpt-4o", capacity=10, refill_per_s=100)
    assert (await reserve(limits.backend, (bucket, 10))).granted
    assert not (await reserve(limits.backend, (bucket, 5))).granted
    await limits.advance(0.06)  # six tokens back at 100/s
    assert (await reserve(limits.backend, (bucket, 5))).granted
    await limits.advance(0.3)  # would be 30 tokens, but a bucket holds no more than its capacity
    assert (await reserve(limits.backend, (bucket, 10))).granted
    assert not (await reserve(limits.backend, (bucket, 5))).granted


async def test_adjust_takes_and_gives_back_capped_at_capacity(limits: Harness) -> None:
    bucket = Bucket("tpm:key:k1", capacity=10, refill_per_s=0.001)
    assert (await reserve(limits.backend, (bucket, 4))).granted  # 6 left
    await limits.backend.adjust([(bucket, 3)])  # used more than estimated: 3 left
    assert not (await reserve(limits.backend, (bucket, 4))).granted
    await limits.backend.adjust([(bucket, -2)])  # gave some back: 5 left
    assert (await reserve(limits.backend, (bucket, 5))).granted
    assert not (await reserve(limits.backend, (bucket, 0.5))).granted
    await limits.backend.adjust([(bucket, -100)])  # a refund never overfills the bucket
    assert (await reserve(limits.backend, (bucket, 10))).granted
    assert not (await reserve(limits.backend, (bucket, 0.5))).granted


async def test_adjust_may_drive_a_bucket_below_zero(limits: Harness) -> None:
    bucket = Bucket("tpm:tenant:acme", capacity=10, refill_per_s=10)
    await limits.backend.adjust([(bucket, 15)])  # a bucket never seen starts full: 10 - 15 = -5
    limits.assert_retry_after(await reserve(limits.backend, (bucket, 1)), 0.6)  # 6 tokens at 10/s


async def test_a_demand_above_capacity_never_fits(limits: Harness) -> None:
    bucket = Bucket("tpm:key:k1", capacity=5, refill_per_s=1)
    denied = await reserve(limits.backend, (bucket, 6))
    assert denied.denial is not None and denied.denial.retry_after_s is None
    never_refills = Bucket("rpm:key:k2", capacity=1, refill_per_s=0)
    assert (await reserve(limits.backend, (never_refills, 1))).granted
    denied = await reserve(limits.backend, (never_refills, 1))
    assert denied.denial is not None and denied.denial.retry_after_s is None


async def test_no_demands_are_granted(limits: Harness) -> None:
    assert await limits.backend.reserve([]) == ReserveResult(True)
    await limits.backend.adjust([])


async def test_spend_accumulates_and_expires_at_period_end(limits: Harness) -> None:
    period_end = limits.wall() + 0.3
    assert await limits.backend.get_spend("budget:key:k1") is None, "no counter: to be seeded"
    assert await limits.backend.add_spend("budget:key:k1", 0.5, period_end) == pytest.approx(0.5)
    assert await limits.backend.add_spend("budget:key:k1", 0.00001, period_end) == pytest.approx(0.50001)
    assert await limits.backend.get_spend("budget:key:k1") == pytest.approx(0.50001)
    assert await limits.backend.get_spend("budget:tenant:acme") is None
    await limits.advance(0.4)
    assert await limits.backend.get_spend("budget:key:k1") is None
    next_end = limits.wall() + 60
    assert await limits.backend.add_spend("budget:key:k1", 0.25, next_end) == pytest.approx(0.25)


async def test_raising_spend_to_the_ledgers_sum_never_lowers_it(limits: Harness) -> None:
    backend, period_end = limits.backend, limits.wall() + 0.3
    # Missing: created at the floor, even at 0 (a counter that exists is not seeded again).
    assert await backend.raise_spend("budget:key:k1", 0.0, period_end) == 0.0
    assert await backend.get_spend("budget:key:k1") == 0.0
    assert await backend.raise_spend("budget:key:k2", 1.25, period_end) == 1.25
    # Charges add to it; a floor below what it holds changes nothing (spend the ledger lacks stays).
    assert await backend.add_spend("budget:key:k2", 0.5, period_end) == pytest.approx(1.75)
    assert await backend.raise_spend("budget:key:k2", 1.5, period_end) == pytest.approx(1.75)
    assert await backend.raise_spend("budget:key:k2", 2.000000001, period_end) == 2.000000001
    # The same floor raised again (replicas reconciling at once) counts once.
    assert await backend.raise_spend("budget:key:k2", 2.000000001, period_end) == 2.000000001
    assert await backend.get_spend("budget:key:k2") == 2.000000001
    await limits.advance(0.4)
    assert await backend.get_spend("budget:key:k2") is None, "it expires with its period"


async def test_concurrency_leases_hold_a_limit_until_released(limits: Harness) -> None:
    first = await limits.backend.acquire_concurrency("conc:key:k1", 2, 30)
    second = await limits.backend.acquire_concurrency("conc:key:k1", 2, 30)
    assert first and second and first != second
    assert await limits.backend.acquire_concurrency("conc:key:k1", 2, 30) is None
    assert await limits.backend.acquire_concurrency("conc:key:k2", 2, 30) is not None
    await limits.backend.release_concurrency("conc:key:k1", first)
    await limits.backend.release_concurrency("conc:key:k1", first)  # twice is harmless
    await limits.backend.release_concurrency("conc:key:k1", "no-such-lease")
    assert await limits.backend.acquire_concurrency("conc:key:k1", 2, 30) is not None
    assert await limits.backend.acquire_concurrency("conc:key:k1", 2, 30) is None


async def test_a_leaked_lease_expires(limits: Harness) -> None:
    assert await limits.backend.acquire_concurrency("conc:key:k1", 1, 0.1) is not None  # never released
    assert await limits.backend.acquire_concurrency("conc:key:k1", 1, 0.1) is None
    await limits.advance(0.15)
    assert await limits.backend.acquire_concurrency("conc:key:k1", 1, 0.1) is not None


# --- Redis only ---------------------------------------------------------------------------------------


async def test_two_replicas_admit_exactly_the_limit(redis_url: str, redis_prefix: str) -> None:
    clients = [redis_client(redis_url) for _ in range(2)]  # one per replica
    replicas = [RedisLimitBackend(client, key_prefix=redis_prefix) for client in clients]
    rpm = Bucket("rpm:key:shared", capacity=50, refill_per_s=0)
    try:
        results = await asyncio.gather(*(replicas[i % 2].reserve([(rpm, 1)]) for i in range(200)))
    finally:
        for client in clients:
            await client.aclose()
    assert sum(result.granted for result in results) == 50


async def test_idle_redis_keys_expire_on_their_own(redis_url: str, redis_prefix: str) -> None:
    raw = redis.asyncio.Redis.from_url(redis_url)
    backend = RedisLimitBackend(raw, key_prefix=redis_prefix)
    try:
        await backend.reserve([(Bucket("rpm:key:k1", capacity=10, refill_per_s=100), 10)])
        # full again in 100 ms; the margin keeps it a second longer (the rest is millisecond rounding)
        assert 0 < await raw.pttl(f"{redis_prefix}bucket:rpm:key:k1") <= 1_102
        await backend.reserve([(Bucket("rpm:key:k2", capacity=10, refill_per_s=0), 1)])
        assert await raw.pttl(f"{redis_prefix}bucket:rpm:key:k2") == -1  # never refills: must persist
        await backend.add_spend("budget:k1", 1.0, time.time() + 60)
        assert 0 < await raw.pttl(f"{redis_prefix}spend:budget:k1") <= 60_100
        await backend.acquire_concurrency("conc:k1", 1, 5)
        assert 0 < await raw.pttl(f"{redis_prefix}concurrency:conc:k1") <= 5_100
    finally:
        await raw.aclose()


LOGGER = "llmgateway.limits.resilient"


@pytest.fixture
def resilience_log() -> Iterator[list[logging.LogRecord]]:
    """Every record of the resilience logger, whatever logging setup other tests left behind."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(LOGGER)
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def levels(records: Sequence[logging.LogRecord]) -> list[str]:
    return [record.levelname for record in records]


async def test_outage_fails_open_with_one_warning_and_recovers(
    private_redis: RedisServer, resilience_log: list[logging.LogRecord]
) -> None:
    changes: list[bool] = []
    client = redis_client(private_redis.url)
    backend = ResilientLimitBackend(
        RedisLimitBackend(client),
        fail_open=True,
        on_state_change=changes.append,
        probe_interval_s=0.05,
    )
    rpm = Bucket("rpm:key:k1", capacity=3, refill_per_s=0)
    assert (await backend.reserve([(rpm, 3)])).granted
    assert not (await backend.reserve([(rpm, 1)])).granted

    private_redis.stop()
    for _ in range(20):  # spans several probe intervals: every probe fails, quietly
        assert (await backend.reserve([(rpm, 1)])).granted
        await backend.adjust([(rpm, 1)])
        assert await backend.add_spend("budget:k1", 1.0, time.time() + 60) == 0.0
        assert await backend.get_spend("budget:k1") == 0.0, "failing open: not None (nothing to seed)"
        assert await backend.raise_spend("budget:k1", 2.0, time.time() + 60) == 2.0
        lease = await backend.acquire_concurrency("conc:k1", 1, 30)
        assert lease is not None
        await backend.release_concurrency("conc:k1", lease)
        await asyncio.sleep(0.01)
    assert levels(resilience_log) == ["WARNING"]
    assert "fail-open" in resilience_log[0].getMessage()
    assert changes == [False]

    private_redis.start()  # same port, empty: no persistence
    await asyncio.sleep(0.06)  # past the probe interval
    # Calls reach Redis again: its fresh bucket admits 3, then refuses (fail-open would admit all).
    assert [(await backend.reserve([(rpm, 1)])).granted for _ in range(4)] == [True, True, True, False]
    assert levels(resilience_log) == ["WARNING", "INFO"]
    assert changes == [False, True]
    await client.aclose()


async def test_outage_fails_closed_and_recovers(
    private_redis: RedisServer, resilience_log: list[logging.LogRecord]
) -> None:
    changes: list[bool] = []
    client = redis_client(private_redis.url)
    backend = ResilientLimitBackend(
        RedisLimitBackend(client),
        fail_open=False,
        on_state_change=changes.append,
        probe_interval_s=0.05,
        closed_retry_after_s=3.0,
    )
    rpm = Bucket("rpm:key:k1", capacity=100, refill_per_s=0)
    assert (await backend.reserve([(rpm, 1)])).granted

    private_redis.stop()
    for _ in range(10):
        # Refused as the store's failure, not as the caller's quota.
        for refused in (
            backend.reserve([(rpm, 1)]),
            backend.acquire_concurrency("conc:k1", 5, 30),
            backend.get_spend("budget:k1"),
        ):
            with pytest.raises(GatewayError) as failure:
                await refused
            assert (failure.value.code, failure.value.reason) == (
                grpc.StatusCode.UNAVAILABLE,
                "LIMITS_UNAVAILABLE",
            )
            assert failure.value.retry_after == 3.0
        await asyncio.sleep(0.01)
    assert levels(resilience_log) == ["WARNING"]
    assert "fail-closed" in resilience_log[0].getMessage()
    assert changes == [False]

    private_redis.start()
    await asyncio.sleep(0.06)
    assert (await backend.reserve([(rpm, 1)])).granted
    assert await backend.get_spend("budget:k1") is None
    assert levels(resilience_log) == ["WARNING", "INFO"]
    assert changes == [False, True]
    await client.aclose()


# --- the resilience wrapper on its own, with time and failures under control ----------------------------


class FlakyBackend(MemoryLimitBackend):
    """A memory backend that raises ConnectionRefusedError while `down`, counting the calls that reach it."""

    waits = True  # `gate` makes reserve wait

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0
        self.gate: asyncio.Event | None = None  # when set, reserve waits for it before answering

    async def reserve(self, demands: Sequence[tuple[Bucket, float]]) -> ReserveResult:
        self.calls += 1
        down = self.down
        if self.gate is not None:
            await self.gate.wait()
        if down:
            raise ConnectionRefusedError("refused")
        return await super().reserve(demands)


async def test_while_down_only_one_probe_per_interval_reaches_the_backend(
    resilience_log: list[logging.LogRecord],
) -> None:
    fake = FakeTime()
    inner = FlakyBackend()
    backend = ResilientLimitBackend(inner, fail_open=True, probe_interval_s=1.0, clock=lambda: fake.mono)
    bucket = Bucket("rpm:key:k1", capacity=100, refill_per_s=0)
    inner.down = True
    for _ in range(10):
        assert (await backend.reserve([(bucket, 1)])).granted
    assert inner.calls == 1
    await fake.advance(1.0)
    for _ in range(10):
        await backend.reserve([(bucket, 1)])
    assert inner.calls == 2
    inner.down = False
    await fake.advance(1.0)
    await backend.reserve([(bucket, 1)])
    assert backend.health.healthy
    assert levels(resilience_log) == ["WARNING", "INFO"]


async def test_a_slow_call_from_before_an_outage_does_not_flip_the_state_back() -> None:
    changes: list[bool] = []
    inner = FlakyBackend()
    backend = ResilientLimitBackend(inner, fail_open=True, on_state_change=changes.append)
    bucket = Bucket("rpm:key:k1", capacity=100, refill_per_s=0)
    inner.gate = asyncio.Event()
    slow = asyncio.create_task(backend.reserve([(bucket, 1)]))  # started while Redis was up
    await asyncio.sleep(0)
    inner.down = True
    failing = asyncio.create_task(backend.reserve([(bucket, 1)]))
    await asyncio.sleep(0)
    inner.gate.set()
    await asyncio.gather(failing, slow)
    assert changes == [False]
    assert not backend.health.healthy


# --- in-process limits never suspend, so settling them needs no shield -------------------------------


def finished_in_one_step(coroutine: Coroutine[Any, Any, Any]) -> bool:
    """Whether `coroutine` runs to its end without suspending (nothing could cancel it half-way)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return True
    coroutine.close()
    return False


def test_the_memory_backend_never_suspends() -> None:
    memory = MemoryLimitBackend()
    bucket = Bucket("tpm:key:k1", capacity=100, refill_per_s=1)
    assert memory.waits is False
    assert finished_in_one_step(memory.reserve([(bucket, 10)]))
    assert finished_in_one_step(memory.adjust([(bucket, -5)]))
    assert finished_in_one_step(memory.add_spend("budget:key:k1:2026-11", 0.5, time.time() + 60))
    assert finished_in_one_step(memory.get_spend("budget:key:k1:2026-11"))
    assert finished_in_one_step(memory.raise_spend("budget:key:k1:2026-11", 0.7, time.time() + 60))
    assert finished_in_one_step(memory.release_concurrency("concurrent:key:k1", "lease"))


def admission_over(backend: LimitBackend) -> Admission:
    config = GatewayConfig.model_validate({"tenants": [{"name": "acme", "rpm": 100, "tpm": 10_000}]})
    return Admission(backend, config, GatewayMetrics())


PRINCIPAL = Principal(
    "k1",
    "acme",
    KeyPolicy.model_validate(
        {"rpm": 10, "tpm": 1_000, "max_concurrent": 2, "budget": {"usd": 5, "period": "day"}}
    ),
)


async def test_in_process_limits_settle_in_the_callers_task_and_give_everything_back() -> None:
    memory = MemoryLimitBackend()
    admission = admission_over(memory)
    ticket = await admission.admit(PRINCIPAL, 300)
    assert ticket.leases
    # No shield, so no task: leaving runs to its end in the call's own task.
    assert finished_in_one_step(settle(admission, ticket, chat_pb2.Usage()))
    assert ticket.leases == []
    tpm = Bucket("tpm:key:k1", capacity=1_000, refill_per_s=1_000 / 60)
    # The estimate (300) was given back in full: the settled call used no tokens.
    assert memory._tokens(tpm, time.monotonic()) == pytest.approx(1_000, abs=1)


async def test_limits_that_wait_are_settled_behind_a_shield() -> None:
    admission = admission_over(FlakyBackend())
    ticket = await admission.admit(PRINCIPAL, 300)
    leaving = asyncio.ensure_future(settle(admission, ticket, chat_pb2.Usage()))
    await asyncio.sleep(0)
    leaving.cancel()  # the caller goes away while its call is being settled
    with pytest.raises(asyncio.CancelledError):
        await leaving
    for _ in range(5):
        await asyncio.sleep(0)
    assert ticket.leases == []  # the shielded settle still ran to its end
