"""Bad requests over raw HTTP: each is a 400 in Anthropic's error shape naming the parameter at
fault (what v1 cannot carry included), never a 500, and nothing reaches a provider."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from llmgateway.app import Gateway
from tests.anthropic_door.conftest import WEATHER_TOOL, Sims, base_url, door_config
from tests.conftest import StartGateway

HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "unused"}
GOOD: dict[str, Any] = {"model": "claude", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
IMAGE: dict[str, Any] = {
    "type": "image",
    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="},
}


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {**GOOD, "messages": [{"role": "user", "content": list(blocks)}]}


# (body changes, the parameter named first in the message)
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"frequency_penalty": 0.5}, "frequency_penalty: Extra inputs are not permitted"),
    (
        {"thinking": {"type": "enabled", "budget_tokens": 512}},
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    ({"thinking": {"type": "adaptive"}}, "thinking.type: Input tag does not match"),
    ({"cache_control": {"type": "ephemeral"}}, "cache_control: not supported"),
    ({"service_tier": "auto"}, "service_tier: not supported"),
    ({"container": "c-1"}, "container: not supported"),
    (
        {"mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "m"}]},
        "mcp_servers: not supported",
    ),
    ({"output_config": {"effort": "low"}}, "output_config.effort: not supported"),
    ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
    ({"max_tokens": "16"}, "max_tokens: Input should be a valid integer"),
    ({"temperature": 1.5}, "temperature: Input should be between 0 and 1"),
    ({"top_k": 0}, "top_k: Input should be greater than or equal to 1"),
    ({"stop_sequences": "STOP"}, "stop_sequences: Input should be a valid list"),
    ({"stream": "yes"}, "stream: Input should be a valid boolean"),
    ({"metadata": {"session": "s"}}, "metadata.session: Extra inputs are not permitted"),
    ({"model": ""}, "model: String should have at least 1 character"),
    ({"messages": []}, "messages: at least one message is required"),
    ({"messages": [{"role": "system", "content": "x"}]}, 'messages.0.role: Unexpected role "system"'),
    ({"messages": [{"role": "user", "content": "x", "name": "n"}]}, "messages.0.name: Extra inputs"),
    ({"messages": [{"role": "user", "content": []}]}, "messages.0.content: all messages must have non-empty"),
    ({"system": [{"type": "image"}]}, "system.0.type: 'image' blocks are not supported"),
    (
        user({"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "30m"}}),
        "content.0.cache_control.ttl: Input should be '5m' or '1h'",
    ),
    (
        user({"type": "text", "text": "x", "citations": [{"type": "char_location"}]}),
        "content.0.citations: not",
    ),
    (user({"type": "text", "text": ""}), "messages.0.content.0: text content blocks must be non-empty"),
    (
        user({"type": "document", "source": {}}),
        "messages.0.content.0.type: 'document' blocks are not supported",
    ),
    (
        user({**IMAGE, "source": {**IMAGE["source"], "data": "not base64!"}}),
        "content.0.source.data: The image",
    ),
    (
        user({**IMAGE, "source": {**IMAGE["source"], "media_type": "image/bmp"}}),
        "content.0.source.media_type",
    ),
    (user({"type": "image", "source": {"type": "url", "url": "http://x.test/a.png"}}), "source.url: must be"),
    (
        user({"type": "text", "text": "x"}, {"type": "tool_result", "tool_use_id": "t"}),
        "tool_result blocks must",
    ),
    (
        {"tools": [{**WEATHER_TOOL, "cache_control": {"type": "forever"}}]},
        "tools.0.cache_control.type: Input should be 'ephemeral'",
    ),
    ({"tools": [{**WEATHER_TOOL, "strict": True}]}, "tools.0.strict: not supported"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type: server tool"),
    ({"tools": [{"name": "t", "input_schema": {"type": "string"}}]}, "tools.0.input_schema.type"),
    (
        {"tools": [WEATHER_TOOL], "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
        "disable_par",
    ),
    ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type: Input tag does not match"),
]


@pytest.fixture
async def gateway(sims: Sims, start_gateway: StartGateway) -> Gateway:
    return await start_gateway(door_config(sims))


async def refused(gateway: Gateway, body: Any, headers: dict[str, str] = HEADERS) -> dict[str, Any]:
    """The 400's error object, after checking the envelope and headers around it."""
    async with httpx.AsyncClient(base_url=base_url(gateway)) as http:
        answer = await http.post("/v1/messages", headers=headers, content=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/json"
    payload = answer.json()
    assert payload["type"] == "error" and payload["request_id"] == answer.headers["request-id"]
    error: dict[str, Any] = payload["error"]
    assert error["type"] == "invalid_request_error"
    return error


@pytest.mark.parametrize(("change", "named"), REFUSED, ids=[named for _, named in REFUSED])
async def test_refused_with_the_parameter_named(
    gateway: Gateway, sims: Sims, change: dict[str, Any], named: str
) -> None:

    error = await refused(gateway, orjson.dumps({**GOOD, **change}))
    assert named in error["message"]
    assert sims.anthropic.requests == []


async def test_sampling_follows_the_api_version(gateway: Gateway) -> None:
    body = {**GOOD, "temperature": 0.5}

    error = await refused(gateway, orjson.dumps(body), {**HEADERS, "anthropic-version": "2026-10-21"})
    assert error["message"].startswith("temperature: not accepted with anthropic-version 2026-10-21")
    async with httpx.AsyncClient(base_url=base_url(gateway)) as http:
        accepted = await http.post("/v1/messages", headers=HEADERS, json=body)
    assert accepted.status_code == 200


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"x-api-key": "k"}, "anthropic-version: header is required"),
        ({**HEADERS, "anthropic-version": "2024-13-01"}, "anthropic-version: invalid version '2024-13-01'"),
        ({**HEADERS, "anthropic-beta": "prompt-caching-2024-07-31"}, "anthropic-beta: not supported"),
    ],
)
async def test_headers_are_checked(gateway: Gateway, headers: dict[str, str], named: str) -> None:

    assert named in (await refused(gateway, orjson.dumps(GOOD), headers))["message"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "body: the request body is not valid JSON"),
        (b"[1, 2]", "body: the request body must be"),
    ],
)
async def test_a_body_that_is_no_json_object(gateway: Gateway, body: bytes, named: str) -> None:
    assert (await refused(gateway, body))["message"].startswith(named)


async def test_what_the_core_refuses_keeps_the_shape(gateway: Gateway) -> None:
    """A tool result answering no tool call passes the door and is refused by the core's validation."""

    body = user({"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"})
    error = await refused(gateway, orjson.dumps(body))
    assert "does not answer any earlier tool call" in error["message"]
