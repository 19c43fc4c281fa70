"""Routing through real gRPC calls and two OpenAI simulators: failover, fallbacks, retries,
breakers, bulkheads, load shedding, capability filtering and what the caller learns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY = "sk-routing-test"
NO_RETRIES = {"retry": {"max_retries": 0}}


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


def providers(a: OpenAISimulator, b: OpenAISimulator) -> list[dict[str, Any]]:
    fast = {"first_token_s": 0.5, "between_tokens_s": 0.5, "total_s": 1.0}
    return [
        {"name": "pa", "type": "openai", "base_url": a.base_url, "api_key": KEY, "timeouts": fast},
        {"name": "pb", "type": "openai", "base_url": b.base_url, "api_key": KEY, "timeouts": fast},
    ]


def two_deployments(
    a: OpenAISimulator, b: OpenAISimulator, routing: dict[str, Any] | None = None, **model: Any
) -> dict[str, Any]:
    """One model `m` served by pa (first) and pb, with a fixed failover order."""
    return {
        "providers": providers(a, b),
        "models": [
            {
                "name": "m",
                "strategy": "weighted",
                "deployments": [
                    {"provider": "pa", "model": "gpt-4o-mini", "weight": 100},
                    {"provider": "pb", "model": "gpt-4o-mini", "weight": 1},
                ],
                **model,
            }
        ],
        "routing": routing or NO_RETRIES,
    }


def with_fallback(
    a: OpenAISimulator, b: OpenAISimulator, routing: dict[str, Any] | None = None, **primary: Any
) -> dict[str, Any]:
    """Model `primary` on pa falling back to model `backup` on pb."""
    return {
        "providers": providers(a, b),
        "models": [
            {
                "name": "primary",
                "deployments": [{"provider": "pa", "model": "gpt-4o-mini"}],
                "fallbacks": ["backup"],
                **primary,
            },
            {"name": "backup", "deployments": [{"provider": "pb", "model": "gpt-4o"}]},
        ],
        "routing": routing or NO_RETRIES,
    }


async def start(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], config: dict[str, Any]
) -> Client:
    return connect(await start_gateway(config))


async def chat_with_metadata(
    client: Client, request: chat_pb2.ChatRequest, timeout: float = 5
) -> tuple[chat_pb2.ChatResponse, dict[str, str]]:
    call = client.chat.Chat(request, timeout=timeout)
    response = await call
    metadata = {k: str(v) for k, v in (await call.trailing_metadata() or ())}
    return response, metadata


async def test_the_report_travels_in_the_trailers(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    """x-llmgateway-* go out with the final status, not as headers (which grpc.aio would send in a
    batch of their own), on unary calls and streams alike — and a stream that breaks after its first
    token keeps its report beside the error's details."""
    client = await start(start_gateway, connect, two_deployments(a, b))
    unary = client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    await unary
    streaming = client.chat.ChatStream(stream_request("m", user("hi")), timeout=5)
    assert [m async for m in streaming]
    for call in (unary, streaming):
        assert not any(key.startswith("x-llmgateway-") for key, _ in await call.initial_metadata() or ())
        report = dict(await call.trailing_metadata() or ())
        assert (report["x-llmgateway-provider"], report["x-llmgateway-attempts"]) == ("pa", "1")
    a.behaviour = Behaviour(reply_text="one two three four", reset_after=2)
    broken = client.chat.ChatStream(stream_request("m", user("hi")), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        [m async for m in broken]
    assert rich_status(failure.value).code == grpc.StatusCode.UNAVAILABLE
    report = dict(await broken.trailing_metadata() or ())
    assert report["x-llmgateway-provider"] == "pa"
    assert "grpc-status-details-bin" in report


async def fails(client: Client, request: chat_pb2.ChatRequest, timeout: float = 5) -> RichStatus:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(request, timeout=timeout)
    return rich_status(failure.value)


# --- failover and metadata ---------------------------------------------------------------------


async def test_unary_fails_over_to_the_next_deployment(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    client = await start(start_gateway, connect, two_deployments(a, b))
    a.behaviour = Behaviour(status=503)
    response, metadata = await chat_with_metadata(client, chat_request("m", user("hello")))
    assert response.message.parts[0].text == "You said: hello"
    assert response.provider == "pb"
    assert metadata["x-llmgateway-provider"] == "pb"
    assert metadata["x-llmgateway-deployment"] == "pb/gpt-4o-mini"
    assert metadata["x-llmgateway-attempts"] == "2"
    assert "x-llmgateway-fallback" not in metadata
    assert (len(a.requests), len(b.requests)) == (1, 1)


@pytest.mark.parametrize(
    "failure",
    [Behaviour(status=503), Behaviour(cut_after=0), Behaviour(stall_after=0), Behaviour(reset_after=0)],
)
async def test_stream_fails_over_invisibly_before_the_first_token(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    a: OpenAISimulator,
    b: OpenAISimulator,
    failure: Behaviour,
) -> None:
    client = await start(start_gateway, connect, two_deployments(a, b))
    a.behaviour = failure
    call = client.chat.ChatStream(stream_request("m", user("one two")), timeout=5)
    messages = [m async for m in call]
    assert messages[0].provider == "pb"
    assert "".join(m.delta.text for m in messages) == "You said: one two"
    assert messages[-1].HasField("usage")
    assert await call.code() == grpc.StatusCode.OK
    metadata = dict(await call.trailing_metadata() or ())
    assert metadata["x-llmgateway-attempts"] == "2"


async def test_stream_after_the_first_token_is_interrupted_not_failed_over(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    client = await start(start_gateway, connect, two_deployments(a, b))
    a.behaviour = Behaviour(cut_after=2)
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for message in client.chat.ChatStream(stream_request("m", user("a b c d")), timeout=5):
            received.append(message)
    status = rich_status(failure.value)
    assert status.reason == "STREAM_INTERRUPTED"
    assert status.detail(chat_pb2.StreamInterruption).messages_sent == 2
    assert b.requests == [], "no second upstream once the caller holds part of an answer"


async def test_caller_errors_are_not_retried_or_failed_over(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    client = await start(
        start_gateway, connect, two_deployments(a, b, routing={"retry": {"max_retries": 3}}, fallbacks=[])
    )
    a.behaviour = Behaviour(status=400, error_type="invalid_request_error", error_message="bad field")
    status = await fails(client, chat_request("m", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UPSTREAM_REJECTED_REQUEST")
    assert status.error_info.metadata["attempts"] == "1"
    assert (len(a.requests), len(b.requests)) == (1, 0)


# --- retries -----------------------------------------------------------------------------------


async def test_retries_with_backoff_honour_retry_after(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = two_deployments(a, b, routing={"retry": {"max_retries": 2, "base_delay_s": 0.01}})
    config["models"][0]["deployments"] = config["models"][0]["deployments"][:1]
    client = await start(start_gateway, connect, config)
    a.enqueue(Behaviour(status=429, retry_after="0.4"), Behaviour(status=500))
    started = time.monotonic()
    response, metadata = await chat_with_metadata(client, chat_request("m", user("third time")))
    assert time.monotonic() - started >= 0.4, "the second attempt waited for Retry-After"
    assert response.message.parts[0].text == "You said: third time"
    assert metadata["x-llmgateway-attempts"] == "3"
    assert len(a.requests) == 3


async def test_no_retry_that_the_deadline_cannot_fit(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = two_deployments(a, b, routing={"retry": {"max_retries": 3}})
    config["models"][0]["deployments"] = config["models"][0]["deployments"][:1]
    client = await start(start_gateway, connect, config)
    a.behaviour = Behaviour(status=503, retry_after="30")
    started = time.monotonic()
    status = await fails(client, chat_request("m", user("hi")), timeout=2)
    assert time.monotonic() - started < 1.5, "gave up at once instead of sleeping past the deadline"
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
    assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == 30
    assert len(a.requests) == 1


# --- fallbacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "fallback_on"),
    [
        (Behaviour(status=503), None),
        (Behaviour(status=429, retry_after="1"), None),
        (Behaviour(stall_after=0), None),
        (
            Behaviour(status=400, error_type="invalid_request_error", error_code="context_length_exceeded"),
            None,
        ),
        (
            Behaviour(status=400, error_type="invalid_request_error", error_code="content_filter"),
            ["content_filtered"],
        ),
    ],
)
async def test_fallback_on_each_trigger_class(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    a: OpenAISimulator,
    b: OpenAISimulator,
    failure: Behaviour,
    fallback_on: list[str] | None,
) -> None:
    extra: dict[str, Any] = {"fallback_on": fallback_on} if fallback_on else {}
    client = await start(start_gateway, connect, with_fallback(a, b, **extra))
    a.behaviour = failure
    for stream in (False, True):
        if stream:
            call = client.chat.ChatStream(stream_request("primary", user("hi")), timeout=5)
            text = "".join([m.delta.text async for m in call])
            metadata = {k: str(v) for k, v in (await call.trailing_metadata() or ())}
        else:
            response, metadata = await chat_with_metadata(client, chat_request("primary", user("hi")))
            text = response.message.parts[0].text
        assert text == "You said: hi"
        assert metadata["x-llmgateway-fallback"] == "primary->backup"
        assert metadata["x-llmgateway-model"] == "backup"
    assert b.requests[-1].body is not None and b.requests[-1].body["model"] == "gpt-4o"


async def test_no_fallback_for_a_class_not_configured(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    client = await start(
        start_gateway, connect, with_fallback(a, b)
    )  # content_filtered is not in the default
    a.behaviour = Behaviour(status=400, error_type="invalid_request_error", error_code="content_filter")
    status = await fails(client, chat_request("primary", user("hi")))
    assert status.reason == "CONTENT_FILTERED"
    assert b.requests == []


async def test_context_length_falls_back_only_to_a_larger_context(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = with_fallback(a, b)
    config["models"][0]["deployments"][0]["capabilities"] = {"context_window": 8000}
    config["models"][1]["deployments"][0]["capabilities"] = {"context_window": 8000}
    client = await start(start_gateway, connect, config)
    a.behaviour = Behaviour(
        status=400, error_type="invalid_request_error", error_code="context_length_exceeded"
    )
    status = await fails(client, chat_request("primary", user("hi")))
    assert status.reason == "CONTEXT_LENGTH_EXCEEDED"
    assert b.requests == [], "the fallback's window is no larger"


# --- breakers, bulkheads, shedding ---------------------------------------------------------------


async def test_breaker_opens_then_fails_fast_without_the_network(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = two_deployments(
        a, b, routing={"retry": {"max_retries": 0}, "breaker": {"consecutive_failures": 2, "open_s": 0.5}}
    )
    config["models"][0]["deployments"] = config["models"][0]["deployments"][:1]
    client = await start(start_gateway, connect, config)
    a.behaviour = Behaviour(status=503)
    for _ in range(2):
        assert (await fails(client, chat_request("m", user("hi")))).reason == "UPSTREAM_UNAVAILABLE"
    status = await fails(client, chat_request("m", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "BREAKER_OPEN")
    assert 0 < status.detail(error_details_pb2.RetryInfo).retry_delay.nanos <= 500_000_000
    assert len(a.requests) == 2, "the open breaker kept the call off the network"
    # After the open period one probe goes through; its success closes the breaker.
    a.behaviour = Behaviour()
    await asyncio.sleep(0.55)
    config_probes = 3  # default half_open_probes
    for _ in range(config_probes + 1):
        await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert len(a.requests) == 2 + config_probes + 1


async def test_open_breaker_sends_calls_to_the_other_deployment(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = two_deployments(
        a, b, routing={"retry": {"max_retries": 0}, "breaker": {"consecutive_failures": 1, "open_s": 60}}
    )
    client = await start(start_gateway, connect, config)
    a.behaviour = Behaviour(status=500)
    await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    for _ in range(3):
        _, metadata = await chat_with_metadata(client, chat_request("m", user("hi")))
        assert metadata["x-llmgateway-provider"] == "pb"
    assert len(a.requests) == 1


async def test_full_bulkhead_moves_to_the_next_deployment(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = two_deployments(a, b)
    config["models"][0]["deployments"][0]["limits"] = {"max_in_flight": 1, "max_wait_s": 0.05}
    client = await start(start_gateway, connect, config)
    a.behaviour = Behaviour(inter_token=0.1)
    slow = client.chat.ChatStream(stream_request("m", user("w " * 10)), timeout=10)
    assert (await slow.read()) is not grpc.aio.EOF
    _, metadata = await chat_with_metadata(client, chat_request("m", user("hi")))
    assert metadata["x-llmgateway-provider"] == "pb"
    slow.cancel()


async def test_load_shedding_refuses_at_once_with_retry_info(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    client = await start(
        start_gateway,
        connect,
        two_deployments(a, b, routing={"retry": {"max_retries": 0}, "max_concurrent_calls": 1}),
    )
    a.behaviour = Behaviour(inter_token=0.1)
    slow = client.chat.ChatStream(stream_request("m", user("w " * 10)), timeout=10)
    assert (await slow.read()) is not grpc.aio.EOF
    status = await fails(client, chat_request("m", user("hi")))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "OVERLOADED")
    assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == 1
    slow.cancel()
    await a.wait_for_disconnects(1)
    await asyncio.sleep(0.05)
    await client.chat.Chat(chat_request("m", user("hi")), timeout=5)  # the slot came back


# --- capability filter, globs ------------------------------------------------------------------


async def test_capability_filter_keeps_tools_off_incapable_deployments(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = two_deployments(a, b)
    config["models"][0]["deployments"][0]["capabilities"] = {"tools": False}
    client = await start(start_gateway, connect, config)
    tool = content_pb2.Tool(name="lookup")
    for _ in range(5):
        _, metadata = await chat_with_metadata(client, chat_request("m", user("hi"), tools=[tool]))
        assert metadata["x-llmgateway-provider"] == "pb"
    assert a.requests == []


async def test_no_capable_deployment(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = two_deployments(a, b)
    for deployment in config["models"][0]["deployments"]:
        deployment["capabilities"] = {"images": False}
    client = await start(start_gateway, connect, config)
    image = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[content_pb2.Part(media=content_pb2.Media(uri="https://example.com/x.png"))],
    )
    status = await fails(client, chat_request("m", image))
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_CAPABLE_DEPLOYMENT")
    assert status.error_info.metadata["feature"] == "images"


async def test_glob_model_sends_the_requested_name_upstream(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], a: OpenAISimulator, b: OpenAISimulator
) -> None:
    config = {
        "providers": providers(a, b),
        "models": [
            {"name": "mini", "deployments": [{"provider": "pb", "model": "gpt-4o-mini"}]},
            {"name": "gpt-*", "deployments": [{"provider": "pa", "model": "{model}"}]},
        ],
    }
    client = await start(start_gateway, connect, config)
    await client.chat.Chat(chat_request("gpt-4o", user("hi")), timeout=5)
    assert a.requests[-1].body is not None and a.requests[-1].body["model"] == "gpt-4o"
    await client.chat.Chat(chat_request("mini", user("hi")), timeout=5)
    assert len(b.requests) == 1, "exact names win over globs"
    status = await fails(client, chat_request("claude-x", user("hi")))
    assert status.code == grpc.StatusCode.NOT_FOUND
