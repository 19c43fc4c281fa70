"""Admission through real gRPC on the in-memory store: key and tenant RPM/TPM with reconciliation,
concurrency, budgets, and a deployment's own limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import RichStatus, rich_status
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY_A, ID_A, HASH_A = new_key()
KEY_B, ID_B, HASH_B = new_key()
A = (("authorization", f"Bearer {KEY_A}"),)
B = (("authorization", f"Bearer {KEY_B}"),)


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=None) as simulator:
        yield simulator


def limited(
    sim: OpenAISimulator,
    policy_a: dict[str, Any] | None = None,
    tenant: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "auth": {
            "enabled": True,
            "keys": [
                {"id": ID_A, "hash": HASH_A, "tenant": "alpha", "policy": policy_a or {}},
                {"id": ID_B, "hash": HASH_B, "tenant": "alpha"},
            ],
        },
        "tenants": [{"name": "alpha", **(tenant or {})}],
        "providers": [
            {"name": "echo", "type": "echo"},
            {"name": "sim", "type": "openai", "base_url": sim.base_url},
        ],
        "models": [
            {"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]},
            {
                "name": "slow",
                "deployments": [
                    {
                        "provider": "sim",
                        "model": "gpt-4o-mini",
                        "input_price_per_mtok": 5000,
                        "output_price_per_mtok": 5000,
                    }
                ],
            },
        ],
        **extra,
    }


async def refused(call: Any) -> RichStatus:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    status = rich_status(failure.value)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    return status


async def test_key_rpm(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator
) -> None:
    client = connect(await start_gateway(limited(sim, {"rpm": 3})))
    for _ in range(3):
        await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A)
    status = await refused(client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A))
    assert status.reason == "RATE_LIMITED"
    violation = status.detail(error_details_pb2.QuotaFailure).violations[0]
    assert violation.subject == f"key:{ID_A}" and "3 calls per minute" in violation.description
    assert 18 <= status.detail(error_details_pb2.RetryInfo).retry_delay.seconds <= 20  # one token per 20 s
    await client.chat.Chat(
        chat_request("echo", user("hi")), timeout=5, metadata=B
    )  # another key: its own limit


async def test_tenant_limits_are_shared_by_its_keys(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator
) -> None:
    client = connect(await start_gateway(limited(sim, tenant={"rpm": 2})))
    await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A)
    await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=B)
    status = await refused(client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A))
    assert status.detail(error_details_pb2.QuotaFailure).violations[0].subject == "tenant:alpha"


async def test_tpm_reserves_an_estimate_and_reconciles_with_real_usage(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator
) -> None:
    client = connect(await start_gateway(limited(sim, {"tpm": 100})))
    config = chat_pb2.GenerationConfig(max_output_tokens=40)
    # Each call reserves ~41 tokens (a short prompt + 40 output) but uses 2 (echo: one word in, one out).
    # Without reconciliation the third call would be refused; with it, twenty fit.
    for _ in range(20):
        await client.chat.Chat(
            chat_request("echo", user("hi"), generation_config=config), timeout=5, metadata=A
        )
    too_big = chat_request(
        "echo", user("hi"), generation_config=chat_pb2.GenerationConfig(max_output_tokens=500)
    )
    status = await refused(client.chat.Chat(too_big, timeout=5, metadata=A))
    assert status.reason == "RATE_LIMITED"
    assert error_details_pb2.RetryInfo not in status.details, "it will never fit: no point retrying"


async def test_streams_reconcile_too_even_when_cancelled(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator
) -> None:
    sim.reset()
    sim.behaviour = Behaviour(inter_token=0.02)
    client = connect(await start_gateway(limited(sim, {"tpm": 400})))
    config = chat_pb2.GenerationConfig(max_output_tokens=300)
    for _ in range(6):
        call = client.chat.ChatStream(
            stream_request("slow", user("a b c d e f"), generation_config=config), timeout=5, metadata=A
        )
        assert (await call.read()) is not grpc.aio.EOF
        assert (await call.read()) is not grpc.aio.EOF
        call.cancel()
        await asyncio.sleep(0.05)
    # Six calls each reserved ~300 tokens of a 400 budget: only reconciliation on cancel let them in.


async def test_concurrency(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator
) -> None:
    sim.reset()
    sim.behaviour = Behaviour(inter_token=0.05)
    client = connect(await start_gateway(limited(sim, {"max_concurrent": 1})))
    slow = client.chat.ChatStream(stream_request("slow", user("w " * 10)), timeout=10, metadata=A)
    assert (await slow.read()) is not grpc.aio.EOF
    status = await refused(client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A))
    assert status.reason == "CONCURRENCY_LIMITED"
    assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == 1
    while await slow.read() is not grpc.aio.EOF:
        pass
    await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A)


async def test_budget(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator
) -> None:
    sim.reset()
    client = connect(await start_gateway(limited(sim, {"budget": {"usd": 0.01, "period": "day"}})))
    response = await client.chat.Chat(chat_request("slow", user("hello there")), timeout=5, metadata=A)
    assert response.usage.cost_usd > 0.01, "prices of 5000 $/Mtok make one call cost more than the budget"
    status = await refused(client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=A))
    assert status.reason == "BUDGET_EXCEEDED"
    assert error_details_pb2.RetryInfo not in status.details, "no retry helps until the period resets"
    assert "per day" in status.detail(error_details_pb2.QuotaFailure).violations[0].description


async def test_deployment_limits_shed_before_the_provider(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator
) -> None:
    sim.reset()
    config = limited(sim)
    config["auth"] = {"enabled": False}
    config["models"] = [
        {
            "name": "m",
            "strategy": "weighted",
            "deployments": [
                {"provider": "sim", "model": "gpt-4o-mini", "weight": 100, "limits": {"rpm": 1}},
                {"provider": "echo", "model": "echo"},
            ],
        }
    ]
    client = connect(await start_gateway(config))
    providers = []
    for _ in range(3):
        call = client.chat.Chat(chat_request("m", user("hi")), timeout=5)
        await call
        providers.append(dict(await call.trailing_metadata() or ())["x-llmgateway-provider"])
    assert providers == ["sim", "echo", "echo"]
    assert len([r for r in sim.requests if r.method == "POST"]) == 1
