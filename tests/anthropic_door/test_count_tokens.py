"""`POST /v1/messages/count_tokens` on the Anthropic door, judged by the anthropic SDK's
`messages.count_tokens`: the provider's count where it has an endpoint (the same figure its
messages call reports), the local estimate elsewhere (said in a header), errors in Anthropic's shape,
and a refusal's stop_reason on the messages route."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from llmgateway.auth.keys import new_key
from tests.anthropic_door.conftest import WEATHER_TOOL, OpenSdk, Sims, door_config
from tests.conftest import StartGateway
from tests.upstreams.base import Behaviour

PROMPT: dict[str, Any] = {
    "system": "answer in one word",
    "messages": [{"role": "user", "content": "how many tokens is this question?"}],
}


@pytest.mark.parametrize("model", ["claude", "gemini", "nova"])
async def test_providers_with_a_counting_endpoint_count_what_their_messages_bill(
    door: anthropic.AsyncAnthropic, sims: Sims, model: str
) -> None:
    raw = await door.messages.with_raw_response.count_tokens(model=model, **PROMPT)
    counted = await raw.parse()
    assert raw.headers["x-llmgateway-token-count"] == "provider"
    message = await door.messages.create(model=model, max_tokens=32, **PROMPT)
    assert counted.input_tokens == message.usage.input_tokens > 0
    assert len(sims.of(model).requests) == 2, "one count, one message"


async def test_the_anthropic_count_carries_tools_and_no_max_tokens(
    door: anthropic.AsyncAnthropic, sims: Sims
) -> None:
    await door.messages.count_tokens(model="claude", tools=[WEATHER_TOOL], **PROMPT)
    [recorded] = sims.anthropic.requests
    assert recorded.path == "/v1/messages/count_tokens"
    assert recorded.body["tools"][0]["name"] == "get_weather"
    assert "max_tokens" not in recorded.body and "stream" not in recorded.body


@pytest.mark.parametrize("model", ["gpt", "llama"])
async def test_providers_without_one_get_a_local_estimate(
    door: anthropic.AsyncAnthropic, sims: Sims, model: str
) -> None:
    raw = await door.messages.with_raw_response.count_tokens(model=model, **PROMPT)
    counted = await raw.parse()
    assert raw.headers["x-llmgateway-token-count"] == "estimate"
    assert counted.input_tokens > 0
    with_tool = await door.messages.count_tokens(model=model, tools=[WEATHER_TOOL], **PROMPT)
    assert with_tool.input_tokens > counted.input_tokens, "tool definitions count"
    assert sims.of(model).requests == [], "an estimate asks no upstream"


async def test_max_tokens_is_refused_as_the_api_refuses_it(door: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as failure:
        await door.messages.count_tokens(model="claude", extra_body={"max_tokens": 5}, **PROMPT)
    assert failure.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "max_tokens" in failure.value.message


async def test_an_unknown_model_is_a_404(door: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        await door.messages.count_tokens(model="no-such-model", **PROMPT)


async def test_counting_needs_a_key_allowed_the_model(
    sims: Sims, start_gateway: StartGateway, sdk: OpenSdk
) -> None:
    key, key_id, key_hash = new_key()
    auth = {
        "enabled": True,
        "keys": [{"id": key_id, "hash": key_hash, "tenant": "t", "policy": {"models": ["claude"]}}],
    }
    gateway = await start_gateway(door_config(sims, auth=auth))
    with pytest.raises(anthropic.AuthenticationError):
        await sdk(gateway, api_key="not-a-key").messages.count_tokens(model="claude", **PROMPT)
    allowed = sdk(gateway, api_key=key)
    with pytest.raises(anthropic.PermissionDeniedError):
        await allowed.messages.count_tokens(model="gpt", **PROMPT)
    assert (await allowed.messages.count_tokens(model="claude", **PROMPT)).input_tokens > 0
    assert len(sims.anthropic.requests) == 1, "refused counts reach no provider"


@pytest.mark.parametrize(("model", "stop_reason"), [("claude", "refusal"), ("gemini", "refusal")])
async def test_a_refusal_or_filter_ends_with_stop_reason_refusal(
    door: anthropic.AsyncAnthropic, sims: Sims, model: str, stop_reason: str
) -> None:
    sims.of(model).behaviour = Behaviour(refusal="I won't do that.")
    message = await door.messages.create(model=model, max_tokens=32, **PROMPT)
    assert message.stop_reason == stop_reason
    async with door.messages.stream(model=model, max_tokens=32, **PROMPT) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == stop_reason
