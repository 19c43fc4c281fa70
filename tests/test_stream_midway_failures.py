"""Streams whose upstream fails after the first token reached the caller, through real gRPC against
two OpenAI simulators.

The caller gets STREAM_INTERRUPTED (tests/test_routing.py, tests/reliability/test_faults.py); here
the point is what the gateway learns about the deployment: the failure counts against its breaker,
its attempt metric and its latency, exactly once, when the stream ends. A caller who cancels says
nothing about the deployment, and a stream that completes counts one success, also when it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY = "sk-midway-test"
PROMPT = "a b c d"  # the reply "You said: a b c d" streams as six chunks
DEPLOYMENT_A = "pa/gpt-4o-mini"
TIMEOUTS = {"first_token_s": 1.0, "between_tokens_s": 0.3, "total_s": 2.0}
# Two failures in a row open the breaker: one success recorded at the first token (the defect)
# would reset the count between them, so a second failure would never open it. No failure-rate
# opening, so only the consecutive count is at work.
FAILURES = 2
BREAKER = {"consecutive_failures": FAILURES, "min_calls": 100, "open_s": 60.0}

# Each fault strikes after two reply chunks reached the caller; the last one after the finish
# chunk, so the stream ends without its usage event and terminator.
MIDWAY_FAULTS = [
    pytest.param(Behaviour(reset_after=2), "UPSTREAM_CONNECTION_LOST", id="reset"),
    pytest.param(Behaviour(stall_after=2), "UPSTREAM_STALL", id="stall"),
    pytest.param(Behaviour(stream_error_after=2), "UPSTREAM_STREAM_ERROR", id="error_event"),
    pytest.param(Behaviour(cut_after=99), "UPSTREAM_STREAM_CUT", id="no_final_event"),
]


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[OpenAISimulator, OpenAISimulator]]:
    with OpenAISimulator(api_key=KEY) as a, OpenAISimulator(api_key=KEY) as b:
        yield a, b


@pytest.fixture
def a(sims: tuple[OpenAISimulator, OpenAISimulator]) -> OpenAISimulator:
    sims[0].reset()
    return sims[0]


@pytest.fixture
def b(sims: tuple[OpenAISimulator, OpenAISimulator]) -> OpenAISimulator:
    sims[1].reset()
    return sims[1]


def config(
    a: OpenAISimulator,
    b: OpenAISimulator | None = None,
    *,
    breaker: dict[str, Any] | None = None,
    timeouts: dict[str, float] | None = None,
    **routing: Any,
) -> dict[str, Any]:
    """Model `m` on pa, and on pb after it when `b` is given (weights keep pa first)."""
    sims = [("pa", a)] + ([("pb", b)] if b is not None else [])
    return {
        "providers": [
            {"name": name, "type": "openai", "base_url": sim.base_url, "api_key": KEY,
             "timeouts": timeouts or TIMEOUTS}
            for name, sim in sims
        ],
        "models": [
            {
                "name": "m",
                "strategy": "weighted",
                "deployments": [
                    {"provider": name, "model": "gpt-4o-mini", "weight": 100 if name == "pa" else 1}
                    for name, _ in sims
                ],
            }
        ],
        "routing": {"retry": {"max_retries": 0}, "breaker": breaker or BREAKER, **routing},
    }  # fmt: skip


async def start(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], data: dict[str, Any]
) -> tuple[Gateway, Client]:
    gateway = await start_gateway(data)
    return gateway, connect(gateway)


async def stream(client: Client) -> tuple[list[chat_pb2.ChatStreamResponse], RichStatus | None]:
    """One stream to the end: the messages (the first names the provider) and the failure (None
    when OK)."""
    call = client.chat.ChatStream(stream_request("m", user(PROMPT)), timeout=5)
    received: list[chat_pb2.ChatStreamResponse] = []
    try:
        async for message in call:
            received.append(message)
    except grpc.aio.AioRpcError as error:
        return received, rich_status(error)
    return received, None


async def interrupted(client: Client) -> RichStatus:
    """A stream that must fail after content reached the caller."""
    received, status = await stream(client)
    assert status is not None, "the stream ended OK"
    assert status.reason == "STREAM_INTERRUPTED", status.message
    assert any(m.HasField("delta") for m in received), "no content reached the caller first"
    return status


async def refused(client: Client) -> RichStatus:
    """A stream that must fail before any message."""
    received, status = await stream(client)
    assert status is not None, "the stream ended OK"
    assert received == []
    return status


async def half_open(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator
) -> tuple[Gateway, Client]:
    """A gateway whose breaker on pa allows one probe: FAILURES refused streams opened it, and its
    open time has passed."""
    breaker = {**BREAKER, "open_s": 0.3, "half_open_probes": 1}
    gateway, client = await start(start_gateway, connect, config(a, breaker=breaker))
    a.behaviour = Behaviour(status=503)
    for _ in range(FAILURES):
        assert (await refused(client)).reason == "UPSTREAM_UNAVAILABLE"
    await asyncio.sleep(0.35)  # open → half-open: one probe may go through
    return gateway, client


async def first_content(call: Any) -> None:
    """Read a stream up to its first content message."""
    while True:
        message = await call.read()
        assert message is not grpc.aio.EOF, "the stream ended before any content"
        if message.HasField("delta"):
            return


async def read_to_end(call: Any) -> list[chat_pb2.ChatStreamResponse]:
    """The rest of a stream read with `read()` (grpc forbids mixing it with iteration)."""
    messages = []
    while (message := await call.read()) is not grpc.aio.EOF:
        messages.append(message)
    return messages


def outcomes(gateway: Gateway, deployment: str = DEPLOYMENT_A) -> dict[str, float]:
    """llmgateway_upstream_attempts_total of one deployment, by outcome (zeros left out)."""
    counted: dict[str, float] = {}
    for family in gateway.metrics.upstream_attempts.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels["deployment"] == deployment and sample.value:
                counted[sample.labels["outcome"]] = sample.value
    return counted


def calls_in_flight(gateway: Gateway) -> float:
    return sum(s.value for family in gateway.metrics.in_flight.collect() for s in family.samples)


def breaker_gauge(gateway: Gateway, deployment: str = DEPLOYMENT_A) -> float | None:
    return gateway.metrics.registry.get_sample_value("llmgateway_breaker_state", {"deployment": deployment})


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for server-side bookkeeping that may land just after the caller saw the call end."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the gateway's bookkeeping"
        await asyncio.sleep(0.01)


# --- failures after the first token count against the deployment ------------------------------


@pytest.mark.parametrize(("fault", "cause"), MIDWAY_FAULTS)
async def test_midway_failures_open_the_breaker(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    a: OpenAISimulator,
    fault: Behaviour,
    cause: str,
) -> None:
    gateway, client = await start(start_gateway, connect, config(a))
    a.behaviour = fault
    for _ in range(FAILURES):
        assert (await interrupted(client)).error_info.metadata["cause"] == cause
    seen = len(a.requests)
    received, status = await stream(client)
    assert status is not None, "the breaker did not count the failures: the stream went through"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "BREAKER_OPEN"), status.message
    assert received == []
    assert len(a.requests) == seen, "the open breaker kept the call off the network"
    assert breaker_gauge(gateway) == 2.0, "the breaker gauge does not show it open"


async def test_open_breaker_after_midway_resets_fails_over(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    _, client = await start(start_gateway, connect, config(a, b))
    a.behaviour = Behaviour(reset_after=2)
    for _ in range(FAILURES):
        await interrupted(client)
    seen = len(a.requests)
    received, status = await stream(client)
    assert status is None, status.message
    assert received[0].provider == "pb"
    assert "".join(m.delta.text for m in received) == f"You said: {PROMPT}"
    assert len(a.requests) == seen


@pytest.mark.parametrize(("fault", "cause"), MIDWAY_FAULTS)
async def test_attempt_metric_records_the_midway_failure(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    a: OpenAISimulator,
    fault: Behaviour,
    cause: str,
) -> None:
    gateway, client = await start(start_gateway, connect, config(a))
    a.behaviour = fault
    await interrupted(client)
    await eventually(lambda: bool(outcomes(gateway)))
    assert outcomes(gateway) == {cause: 1}, "one attempt, counted with its real outcome, not OK"


async def test_half_open_probe_is_judged_by_how_its_stream_ends(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator
) -> None:
    gateway, client = await half_open(start_gateway, connect, a)
    a.behaviour = Behaviour(reset_after=2)
    await interrupted(client)  # the probe's first token arrived, then the upstream reset
    seen = len(a.requests)
    status = await refused(client)
    assert status.reason == "BREAKER_OPEN", "a probe that failed mid-way must open the breaker again"
    assert len(a.requests) == seen
    assert breaker_gauge(gateway) == 2.0


async def test_half_open_probe_holds_its_slot_until_its_stream_completes(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator
) -> None:
    _, client = await half_open(start_gateway, connect, a)
    a.behaviour = Behaviour(inter_token=0.1)
    probe = client.chat.ChatStream(stream_request("m", user(PROMPT)), timeout=5)
    await first_content(probe)
    # The probe has not proven anything yet: its first token is no verdict on the stream.
    assert (await refused(client)).reason == "BREAKER_OPEN"
    await read_to_end(probe)
    assert await probe.code() == grpc.StatusCode.OK
    _, status = await stream(client)  # the completed probe closed the breaker
    assert status is None, status.message


async def test_midway_stall_feeds_the_latency_strategy(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    # alpha 1: each observation replaces the last, so the order follows the latest sample. pb is
    # slower to its first token than pa, but faster than pa's stall (between_tokens_s).
    timeouts = {**TIMEOUTS, "between_tokens_s": 0.6}
    data = config(a, b, timeouts=timeouts, latency_ewma_alpha=1.0)
    data["models"][0]["strategy"] = "latency"
    _, client = await start(start_gateway, connect, data)
    b.behaviour = Behaviour(ttft=0.2)
    served = set()
    for _ in range(2):  # unmeasured deployments go first, so both get measured
        received, status = await stream(client)
        assert status is None, status.message
        served.add(received[0].provider)
    assert served == {"pa", "pb"}
    a.behaviour = Behaviour(stall_after=2)
    status = await interrupted(client)
    assert status.error_info.metadata["provider"] == "pa", "pa was the faster to its first token"
    a.behaviour = Behaviour()
    received, status = await stream(client)
    assert status is None, status.message
    assert received[0].provider == "pb", "pa's stall did not count as a latency observation"


# --- a caller's cancel, and a completed stream ------------------------------------------------


async def test_caller_cancel_midway_is_neither_failure_nor_success(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator
) -> None:
    gateway, client = await start(start_gateway, connect, config(a))
    a.behaviour = Behaviour(reset_after=2)
    await interrupted(client)  # one failure of the two that open the breaker

    a.behaviour = Behaviour(inter_token=0.1)
    disconnects = a.disconnects
    call = client.chat.ChatStream(stream_request("m", user(PROMPT)), timeout=5)
    await first_content(call)
    call.cancel()
    await a.wait_for_disconnects(disconnects + 1)
    await eventually(lambda: "CANCELLED" in outcomes(gateway))

    # Not a failure: the next failing stream still reaches the upstream (a cancel counted as the
    # second failure would have opened the breaker) ...
    a.behaviour = Behaviour(reset_after=2)
    await interrupted(client)
    # ... and not a success: it did not reset the count, so that failure was the second in a row.
    seen = len(a.requests)
    assert (await refused(client)).reason == "BREAKER_OPEN"
    assert len(a.requests) == seen
    assert outcomes(gateway) == {"UPSTREAM_CONNECTION_LOST": 2, "CANCELLED": 1}


async def test_completed_stream_counts_one_success_when_it_ends(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator
) -> None:
    gateway, client = await start(start_gateway, connect, config(a))
    a.behaviour = Behaviour(reset_after=2)
    await interrupted(client)

    a.behaviour = Behaviour(inter_token=0.1)
    call = client.chat.ChatStream(stream_request("m", user(PROMPT)), timeout=5)
    await first_content(call)
    assert outcomes(gateway) == {"UPSTREAM_CONNECTION_LOST": 1}, "counted before the stream's end"
    rest = await read_to_end(call)
    assert rest[-1].HasField("usage")
    assert await call.code() == grpc.StatusCode.OK
    await eventually(lambda: "OK" in outcomes(gateway))
    await asyncio.sleep(0.05)  # nothing more arrives late
    assert outcomes(gateway) == {"UPSTREAM_CONNECTION_LOST": 1, "OK": 1}

    # The success reached the breaker too: it reset the failure count, so one more failure does not
    # open it.
    a.behaviour = Behaviour(reset_after=2)
    await interrupted(client)
    a.behaviour = Behaviour()
    _, status = await stream(client)
    assert status is None, status.message
    assert breaker_gauge(gateway) == 0.0


async def test_caller_cancel_before_the_first_token_gives_back_the_half_open_probe(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator
) -> None:
    gateway, client = await half_open(start_gateway, connect, a)
    a.behaviour = Behaviour(ttft=0.5)
    requests, disconnects = len(a.requests), a.disconnects
    probe = client.chat.ChatStream(stream_request("m", user(PROMPT)), timeout=5)
    await eventually(lambda: len(a.requests) > requests)  # the probe is waiting for its first token
    probe.cancel()
    await a.wait_for_disconnects(disconnects + 1)
    await eventually(lambda: calls_in_flight(gateway) == 0)  # the gateway is done with it
    # The cancelled probe proved nothing either way, and its slot came back: the next call is
    # the probe (a slot kept for good would leave the breaker half-open and refusing every call).
    a.behaviour = Behaviour()
    _, status = await stream(client)
    assert status is None, status.message
    assert outcomes(gateway) == {"UPSTREAM_UNAVAILABLE": 2, "CANCELLED": 1, "OK": 1}


async def test_caller_cancel_of_a_unary_probe_gives_back_the_half_open_probe(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator
) -> None:
    """The unary twin of the test above: a probe the caller cancels mid-call proves nothing and
    returns its slot, so the next call is the probe."""
    gateway, client = await half_open(start_gateway, connect, a)
    a.behaviour = Behaviour(latency=0.5)
    requests, disconnects = len(a.requests), a.disconnects
    probe = client.chat.Chat(chat_request("m", user(PROMPT)), timeout=5)
    await eventually(lambda: len(a.requests) > requests)  # the probe is waiting for its answer
    probe.cancel()
    await a.wait_for_disconnects(disconnects + 1)
    await eventually(lambda: calls_in_flight(gateway) == 0)
    a.behaviour = Behaviour()
    response = await client.chat.Chat(chat_request("m", user(PROMPT)), timeout=5)
    assert response.message.parts[0].text == f"You said: {PROMPT}"
    assert outcomes(gateway) == {"UPSTREAM_UNAVAILABLE": 2, "CANCELLED": 1, "OK": 1}
