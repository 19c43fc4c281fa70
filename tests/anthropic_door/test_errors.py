"""Failures through the Anthropic door as the SDK raises them: each reason in Anthropic's error shape
and status (retry-after on 429s), keys as x-api-key or Bearer, a mid-stream failure that makes the
SDK raise, and a caller's cancellation closing the upstream call."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import anthropic
import httpx
import pytest

from llmgateway.auth.keys import new_key
from llmgateway.observability.logging_setup import ACCESS_LOGGER, JsonFormatter
from tests.anthropic_door.conftest import OpenSdk, Sims, base_url, door_config
from tests.conftest import StartGateway
from tests.upstreams.base import Behaviour

KEY, KEY_ID, KEY_HASH = new_key()
HELLO: list[Any] = [{"role": "user", "content": "hello"}]


def with_key(sims: Sims, **policy: Any) -> dict[str, Any]:
    key = {"id": KEY_ID, "hash": KEY_HASH, "tenant": "acme", "policy": policy}
    return door_config(sims, auth={"enabled": True, "keys": [key]})


def error_of(raised: anthropic.APIStatusError) -> dict[str, Any]:
    """The body's `error`, after checking the envelope around it."""
    body = raised.body
    assert isinstance(body, dict) and body["type"] == "error" and set(body["error"]) == {"type", "message"}
    error: dict[str, Any] = body["error"]
    return error


async def test_a_gateway_key_as_x_api_key_or_bearer(
    sims: Sims, start_gateway: StartGateway, sdk: OpenSdk
) -> None:
    gateway = await start_gateway(with_key(sims))
    by_header = await sdk(gateway, api_key=KEY).messages.create(model="gpt", max_tokens=16, messages=HELLO)
    bearer = sdk(gateway, api_key=None, auth_token=KEY)
    by_bearer = await bearer.messages.create(model="claude", max_tokens=16, messages=HELLO)
    assert by_header.content and by_bearer.content
    for wrong in (
        sdk(gateway, api_key="sk-wrong-key"),
        sdk(gateway, api_key=None, auth_token="sk-wrong-key"),
    ):
        with pytest.raises(anthropic.AuthenticationError) as failure:
            await wrong.messages.create(model="gpt", max_tokens=16, messages=HELLO)
        assert error_of(failure.value)["type"] == "authentication_error"
        assert "sk-wrong-key" not in str(failure.value.body)


async def test_a_model_the_key_may_not_use(sims: Sims, start_gateway: StartGateway, sdk: OpenSdk) -> None:
    client = sdk(await start_gateway(with_key(sims, models=["gpt"])), api_key=KEY)
    with pytest.raises(anthropic.PermissionDeniedError) as failure:
        await client.messages.create(model="claude", max_tokens=16, messages=HELLO)
    assert error_of(failure.value)["type"] == "permission_error"
    assert sims.anthropic.requests == []


async def test_an_unknown_model(door: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as failure:
        await door.messages.create(model="claude-opus-9", max_tokens=16, messages=HELLO)
    assert error_of(failure.value) == {
        "type": "not_found_error",
        "message": "model 'claude-opus-9' is not configured on this gateway; ListModels shows the available models",
    }
    with pytest.raises(anthropic.NotFoundError):  # a stream fails before it begins, with the status
        await door.messages.create(model="claude-opus-9", max_tokens=16, messages=HELLO, stream=True)


@pytest.mark.parametrize("model", ["gpt", "claude", "gemini"])
async def test_an_upstream_rate_limit_is_a_rate_limit_error_with_retry_after(
    door: anthropic.AsyncAnthropic, sims: Sims, model: str
) -> None:
    retry: dict[str, Any] = {"retry_after": "7"}
    if model == "gemini":  # Gemini says when to retry in its error body, not in a header
        retry = {"error_body": _gemini_retry_in(7)}
    sims.of(model).behaviour = Behaviour(status=429, **retry)
    for stream in (False, True):
        with pytest.raises(anthropic.RateLimitError) as failure:
            await door.messages.create(model=model, max_tokens=16, messages=HELLO, stream=stream)
        assert failure.value.response.headers["retry-after"] == "7"
        assert error_of(failure.value)["type"] == "rate_limit_error"


def _gemini_retry_in(seconds: int) -> dict[str, Any]:
    return {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}],
        }
    }


async def test_every_route_down_is_a_server_error(door: anthropic.AsyncAnthropic, sims: Sims) -> None:
    sims.bedrock.behaviour = Behaviour(status=503)
    with pytest.raises(anthropic.ServiceUnavailableError) as failure:
        await door.messages.create(model="nova", max_tokens=16, messages=HELLO)
    assert error_of(failure.value)["type"] == "overloaded_error"


async def test_an_upstream_timeout_is_a_gateway_timeout(
    sims: Sims, start_gateway: StartGateway, sdk: OpenSdk
) -> None:
    config = door_config(sims)
    config["providers"][0]["timeouts"] = {"first_token_s": 0.3, "between_tokens_s": 0.3}
    client = sdk(await start_gateway(config))
    sims.openai.behaviour = Behaviour(ttft=3)
    with pytest.raises(anthropic.GatewayTimeoutError) as failure:
        await client.messages.create(model="gpt", max_tokens=16, messages=HELLO, stream=True)
    assert error_of(failure.value)["type"] == "timeout_error"


async def test_a_gateway_shedding_load_is_overloaded(
    sims: Sims, start_gateway: StartGateway, sdk: OpenSdk
) -> None:
    client = sdk(
        await start_gateway(
            door_config(sims, routing={"max_concurrent_calls": 1, "retry": {"max_retries": 0}})
        )
    )
    sims.ollama.behaviour = Behaviour(latency=0.5)
    busy = asyncio.create_task(client.messages.create(model="llama", max_tokens=16, messages=HELLO))
    await asyncio.sleep(0.2)
    with pytest.raises(anthropic.OverloadedError) as failure:
        await client.messages.create(model="llama", max_tokens=16, messages=HELLO)
    assert failure.value.status_code == 529 and error_of(failure.value)["type"] == "overloaded_error"
    assert (await busy).content


@pytest.mark.parametrize("model", ["gpt", "claude", "nova", "llama"])
async def test_a_failure_mid_stream_makes_the_sdk_raise(
    door: anthropic.AsyncAnthropic, sims: Sims, model: str
) -> None:
    sims.of(model).behaviour = Behaviour(reply_text="one two three four five six", stream_error_after=2)
    received: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as failure:
        async with door.messages.stream(model=model, max_tokens=64, messages=HELLO) as stream:
            async for text in stream.text_stream:
                received.append(text)
    assert received, "the stream had begun"
    assert error_of(failure.value)["type"] in ("api_error", "overloaded_error")
    sims.of(model).behaviour = Behaviour(reply_text="one two three four five six", cut_after=2)
    raw = await door.messages.create(model=model, max_tokens=64, messages=HELLO, stream=True)
    with pytest.raises(anthropic.APIStatusError):
        async for _ in raw:
            pass


async def test_a_caller_that_goes_away_closes_the_upstream_call(
    door: anthropic.AsyncAnthropic, sims: Sims, caplog: pytest.LogCaptureFixture
) -> None:
    sims.gemini.behaviour = Behaviour(reply_text="word " * 200, inter_token=0.05)
    with caplog.at_level(logging.INFO):
        stream = await door.messages.create(model="gemini", max_tokens=1000, messages=HELLO, stream=True)
        async for event in stream:
            if event.type == "content_block_delta":
                break
        await stream.close()
        await sims.gemini.wait_for_disconnects(1)
        async with asyncio.timeout(5):
            while not any(r.name == ACCESS_LOGGER for r in caplog.records):
                await asyncio.sleep(0.01)
    [access] = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert (access["code"], access["frontend"]) == ("CANCELLED", "anthropic")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_body_over_the_limit_is_request_too_large(
    sims: Sims, start_gateway: StartGateway, sdk: OpenSdk
) -> None:
    gateway = await start_gateway(door_config(sims, limits={"max_request_bytes": 1024}))
    with pytest.raises(anthropic.APIStatusError) as failure:
        await sdk(gateway).messages.create(
            model="gpt", max_tokens=16, messages=[{"role": "user", "content": "x" * 2_000_000}]
        )
    assert failure.value.status_code == 413
    assert error_of(failure.value)["type"] == "request_too_large"
    async with httpx.AsyncClient(base_url=base_url(gateway)) as http:  # the listener is still well
        assert (await http.get("/health/live")).status_code == 200
    assert sims.openai.requests == []
