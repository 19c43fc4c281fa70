"""The transport-neutral core, driven directly: no server, no gRPC channel, a CallerIdentity and
v1 messages in, v1 messages and an outcome out. The order of its steps (cheap local checks, then
authentication, then admission, then the cache) and what a refused or cut call gives back."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llmgateway.auth.keys import new_key
from llmgateway.core.identity import CallerIdentity
from llmgateway.core.pipeline import Core
from llmgateway.core.runtime import Runtime, RuntimeHolder
from llmgateway.core.shutdown import InFlightCalls
from llmgateway.errors import GatewayError
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.reasons import Reason
from llmgateway.resilience.clock import SystemClock
from llmgateway.store.shared import build_store
from llmgateway.v1 import chat_pb2
from tests.conftest import ECHO_CONFIG, chat_request, gateway_config, user

KEY, KEY_ID, KEY_HASH = new_key()
WITH_KEY = CallerIdentity(headers=(("authorization", f"Bearer {KEY}"),))
NO_KEY = CallerIdentity()

MakeCore = Callable[[dict[str, Any]], Awaitable[Core]]


@pytest.fixture
async def make_core() -> AsyncIterator[MakeCore]:
    holders: list[RuntimeHolder] = []

    async def make(data: dict[str, Any]) -> Core:
        config = gateway_config(data)
        metrics = GatewayMetrics()
        store = build_store(config, metrics)
        runtime = Runtime(config, clock=SystemClock(), rng=random.Random(7), store=store, metrics=metrics)
        holders.append(RuntimeHolder(runtime))
        return Core(
            holders[-1],
            InFlightCalls(),
            metrics,
            max_concurrent_calls=config.routing.max_concurrent_calls,
            access_log=False,
        )

    yield make
    for holder in holders:
        await holder.aclose()


def keyed(policy: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The echo config with authentication on and one key of `policy`."""
    keys = [{"id": KEY_ID, "hash": KEY_HASH, "tenant": "acme", "policy": policy or {}}]
    return {**ECHO_CONFIG, "auth": {"enabled": True, "keys": keys}, **extra}


def hello(**fields: Any) -> chat_pb2.ChatRequest:
    return chat_request("echo", user("hello there"), **fields)


async def refusal(call: Awaitable[object]) -> Reason:
    with pytest.raises(GatewayError) as refused:
        await call
    return refused.value.reason


async def test_a_unary_call_and_a_stream_run_through_the_core_alone(make_core: MakeCore) -> None:
    core = await make_core(ECHO_CONFIG)
    response, outcome = await core.chat(hello(), NO_KEY)
    assert response.message.parts[0].text == "hello there"
    assert response.provider == "echo"
    assert outcome.served is not None
    assert (outcome.served.provider, outcome.served.deployment, outcome.served.attempts) == (
        "echo",
        "echo/echo-1",
        1,
    )
    assert (outcome.model, outcome.usage.output_tokens, outcome.reason) == ("echo", 2, "")

    messages, streamed = core.chat_stream(hello(), NO_KEY)
    async with aclosing(messages):
        texts = [m.delta.text async for m in messages if m.HasField("delta")]
    assert "".join(texts) == "hello there"
    assert streamed.served is not None and streamed.served.cache == "off"
    assert streamed.usage.total_tokens == 4
    assert streamed.ttft_s is not None


async def test_the_outcome_of_a_failed_call_names_its_reason(make_core: MakeCore) -> None:
    core = await make_core(ECHO_CONFIG)
    messages, outcome = core.chat_stream(chat_request("no-such-model", user("hi")), NO_KEY)
    with pytest.raises(GatewayError) as failed:
        async with aclosing(messages):
            async for _ in messages:
                pass
    assert failed.value.reason == Reason.MODEL_NOT_FOUND
    assert (outcome.reason, outcome.served) == (Reason.MODEL_NOT_FOUND, None)


async def test_load_shedding_comes_before_authentication(make_core: MakeCore) -> None:
    """A gateway at its limit refuses without spending a key lookup, even on a caller with no key."""
    core = await make_core(keyed(routing={"max_concurrent_calls": 1}))
    held, _ = core.chat_stream(hello(), WITH_KEY)
    async with aclosing(held):
        await anext(held)  # the one place is taken
        assert await refusal(core.chat(hello(), NO_KEY)) == Reason.OVERLOADED
    assert await refusal(core.chat(hello(), NO_KEY)) == Reason.MISSING_API_KEY


async def test_open_breakers_fail_fast_after_authentication_and_before_admission(
    make_core: MakeCore,
) -> None:
    providers = [{"name": "dead", "type": "openai", "base_url": "http://127.0.0.1:9/v1"}]
    models = [{"name": "echo", "deployments": [{"provider": "dead", "model": "gpt"}]}]
    breaker = {"consecutive_failures": 1, "min_calls": 1, "open_s": 60}
    routing = {"breaker": breaker, "retry": {"max_retries": 0}}
    core = await make_core(keyed({"rpm": 2}, providers=providers, models=models, routing=routing))
    assert await refusal(core.chat(hello(), WITH_KEY)) == Reason.UPSTREAM_CONNECT_FAILED
    # A caller without a key learns nothing of the deployments' health.
    assert await refusal(core.chat(hello(), NO_KEY)) == Reason.MISSING_API_KEY
    for _ in range(3):  # refused before admission: none of them spends the key's last call
        messages, outcome = core.chat_stream(hello(), WITH_KEY)
        with pytest.raises(GatewayError) as refused:
            async with aclosing(messages):
                async for _ in messages:
                    pass
        assert refused.value.reason == Reason.BREAKER_OPEN
        # Recorded against the key and tenant that asked (the ledger and the status page).
        assert (outcome.tenant, outcome.key_id) == ("acme", KEY_ID)
    # The refusal is counted under the model it asked for (per-model dashboards see the outage).
    refused_models = {
        sample.labels["model"]
        for family in text_string_to_metric_families(generate_latest(core._metrics.registry).decode())
        for sample in family.samples
        if sample.name == "llmgateway_requests_total" and sample.labels["code"] == "UNAVAILABLE"
    }
    assert refused_models == {"echo"}


async def test_admission_comes_before_the_cache(make_core: MakeCore) -> None:
    """A cached answer is still a call the key makes: it counts against the key's rate."""
    core = await make_core(keyed({"rpm": 1}, cache={"enabled": True}))
    _, first = await core.chat(hello(), WITH_KEY)
    assert first.cache == "miss"
    assert await refusal(core.chat(hello(), WITH_KEY)) == Reason.RATE_LIMITED


async def test_a_call_refused_or_cut_after_admission_gives_its_place_back(make_core: MakeCore) -> None:
    core = await make_core(keyed({"max_concurrent": 1}))
    for _ in range(3):  # refused by validation, after admission took the key's one place
        assert await refusal(core.chat(chat_request("echo"), WITH_KEY)) == Reason.INVALID_REQUEST
    messages, outcome = core.chat_stream(hello(), WITH_KEY)
    async with aclosing(messages):
        while not (await anext(messages)).HasField("delta"):
            pass
        assert await refusal(core.chat(hello(), WITH_KEY)) == Reason.CONCURRENCY_LIMITED
    # Cut after its first token: charged what it used so far, and its place is free again.
    assert outcome.usage.total_tokens > 0
    response, _ = await core.chat(hello(), WITH_KEY)
    assert response.message.parts[0].text == "hello there"


async def test_the_model_list_needs_a_valid_key(make_core: MakeCore) -> None:
    core = await make_core(keyed())
    assert await refusal(core.list_models(NO_KEY)) == Reason.MISSING_API_KEY
    listed = await core.list_models(WITH_KEY)
    assert [model.name for model in listed.models] == ["echo"]
