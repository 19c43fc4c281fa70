"""The OpenAI door on the wire, through real HTTP on loopback to a gateway in front of the OpenAI
simulator: the exact chunk sequence of a stream, what each parameter becomes upstream, the
parameters refused (400 naming them), errors in OpenAI's shape with their statuses and headers, and
a caller's disconnect reaching the upstream."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.observability.logging_setup import ACCESS_LOGGER, JsonFormatter
from tests.conformance.harness import KEY, MODEL, tiny_png
from tests.conftest import StartGateway
from tests.openai_door import WEATHER_TOOL, chat_body, chunks, door_url, events, post_chat, provider_config
from tests.upstreams.openai import Behaviour, OpenAISimulator


@pytest.fixture(scope="module")
def simulator() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=KEY) as sim:
        yield sim


@pytest.fixture
def sim(simulator: OpenAISimulator) -> OpenAISimulator:
    simulator.reset()
    return simulator


@pytest.fixture
async def gateway(sim: OpenAISimulator, start_gateway: StartGateway) -> Gateway:
    return await start_gateway(provider_config("openai", sim.base_url))


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=door_url(gateway), timeout=10) as client:
        yield client


# --- answers -----------------------------------------------------------------------------------


async def test_unary_answer_is_a_chat_completion(http: httpx.AsyncClient) -> None:
    answer = await post_chat(http, chat_body(text="hello world"), headers={"x-request-id": "req-7"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == "chatcmpl-req-7" and answer.headers["x-request-id"] == "req-7"
    assert body["object"] == "chat.completion" and isinstance(body["created"], int)
    assert body["model"].startswith("gpt-4o-mini")
    [choice] = body["choices"]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": "You said: hello world", "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert answer.headers["x-llmgateway-provider"] == "conf-openai"
    assert answer.headers["x-llmgateway-attempts"] == "1"


@pytest.mark.parametrize("include_usage", [True, False])
async def test_stream_chunks_follow_the_spec(http: httpx.AsyncClient, include_usage: bool) -> None:
    options: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    answer = await post_chat(http, chat_body(text="one two three", stream=True, **options))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["x-llmgateway-provider"] == "conf-openai"
    data = events(answer.text)
    assert data[-1] == "[DONE]"
    parsed = chunks(answer.text)
    assert {c["object"] for c in parsed} == {"chat.completion.chunk"}
    assert len({c["id"] for c in parsed}) == 1
    # OpenAI's field order, as its own chunks have it (the bytes around the choices are made once).
    order = ["id", "object", "created", "model", "choices"] + (["usage"] if include_usage else [])
    assert all(list(c) == order for c in parsed)
    first = parsed[0]
    assert first["choices"][0]["delta"]["role"] == "assistant"
    with_choices = [c for c in parsed if c["choices"]]
    finishes = [c["choices"][0]["finish_reason"] for c in with_choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in with_choices)
    assert text == "You said: one two three"
    usage_chunks = [c for c in parsed if not c["choices"]]
    if include_usage:
        [usage] = usage_chunks
        assert usage is parsed[-1] and usage["usage"]["completion_tokens"] > 0
        assert all(c["usage"] is None for c in with_choices)
    else:
        assert usage_chunks == [] and all("usage" not in c for c in parsed)


async def test_streamed_tool_calls_carry_index_id_type_and_name(
    http: httpx.AsyncClient, sim: OpenAISimulator
) -> None:
    sim.behaviour = Behaviour(
        tool_calls=[("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')]
    )
    answer = await post_chat(http, chat_body(text="weather?", stream=True, tools=[WEATHER_TOOL]))
    parsed = chunks(answer.text)
    fragments = [f for c in parsed for f in c["choices"][0]["delta"].get("tool_calls", [])]
    seen: dict[int, dict[str, Any]] = {}
    for fragment in fragments:
        if fragment["index"] not in seen:
            assert fragment["type"] == "function" and fragment["id"].startswith("call_")
            assert fragment["function"]["name"] == "get_weather"
            seen[fragment["index"]] = {"id": fragment["id"], "arguments": ""}
        else:
            assert set(fragment) == {"index", "function"}
        seen[fragment["index"]]["arguments"] += fragment["function"]["arguments"]
    assert sorted(seen) == [0, 1] and seen[0]["id"] != seen[1]["id"]
    assert [json.loads(c["arguments"]) for _, c in sorted(seen.items())] == [
        {"city": "Paris"},
        {"city": "Oslo"},
    ]
    assert parsed[-1]["choices"][0]["finish_reason"] == "tool_calls"


# --- what reaches the provider -----------------------------------------------------------------


async def test_every_parameter_reaches_the_provider(http: httpx.AsyncClient, sim: OpenAISimulator) -> None:
    image = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in JSON."}]},
            {
                "role": "user",
                "name": "ann",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": image, "detail": "auto"}},
                ],
            },
        ],
        "max_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": "END",
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "tools": [{**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
        "n": 1,
        "logprobs": False,
        "user": "end-user-1",
        "metadata": {"team": "search"},
    }
    answer = await post_chat(http, body)
    assert answer.status_code == 200, answer.text
    sent = sim.requests[-1].body
    assert [m["role"] for m in sent["messages"]] == ["system", "developer", "user"]
    assert sent["messages"][2]["name"] == "ann"
    assert sent["messages"][2]["content"][1]["image_url"]["url"] == image
    assert sent["max_completion_tokens"] == 50
    assert (sent["temperature"], sent["top_p"], sent["stop"], sent["seed"]) == (0.5, 0.9, ["END"], 7)
    assert (sent["presence_penalty"], sent["frequency_penalty"]) == (0.5, -0.5)
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["strict"] is True
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    assert sent["response_format"]["json_schema"]["name"] == "answer"
    assert sent["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert sent["response_format"]["json_schema"]["strict"] is True
    # user and metadata are the gateway's labels (routing rules, logs): never sent upstream.
    assert "user" not in sent and "metadata" not in sent


async def test_a_tool_result_round_trip(http: httpx.AsyncClient, sim: OpenAISimulator) -> None:
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
        },
    ]
    body = {
        "model": MODEL,
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "weather in Paris and Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": calls, "refusal": None},
            {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": '{"temp": 9}'}]},
        ],
    }
    answer = await post_chat(http, body)
    assert answer.status_code == 200, answer.text
    sent = sim.requests[-1].body["messages"]
    assert sent[1]["tool_calls"][1]["id"] == "call_b"
    assert [(m["role"], m["tool_call_id"], m["content"]) for m in sent[2:]] == [
        ("tool", "call_a", '{"temp": 21}'),
        ("tool", "call_b", '{"temp": 9}'),
    ]


# --- refused -----------------------------------------------------------------------------------

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"n": 2}, "n"),
    ({"n": True}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"store": True}, "store"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"frobnicate": 1}, "frobnicate"),
    ({"temperature": "hot"}, "temperature"),
    ({"temperature": 3}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"),
    ({"max_tokens": 5, "max_completion_tokens": 5}, "max_tokens"),
    ({"stop": [1]}, "stop[0]"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"stream": True, "stream_options": {"include_usage": True, "x": 1}}, "stream_options.x"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
    (
        {"tools": [{**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "name": "bad name"}}]},
        "tools[0].function.name",
    ),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    (
        {"tools": [{**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": "yes"}}]},
        "tools[0].function.strict",
    ),
    ({"response_format": {"type": "json_object", "schema": {}}}, "response_format.schema"),
    ({"response_format": {"type": "yaml"}}, "response_format.type"),
    (
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
        "response_format.json_schema.name",
    ),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
    (
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "messages[0].content[0].type",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}
                    ],
                }
            ]
        },
        "messages[0].content[0].image_url.detail",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}
            ]
        },
        "messages[0]",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "tool", "tool_call_id": "nope", "content": "x"},
            ]
        },
        "messages[1]",
    ),
    ({"metadata": {"bad key!": "v"}}, "metadata"),
    ({"model": 7}, "model"),
]


@pytest.mark.parametrize(("patch", "param"), REFUSED, ids=[p for _, p in REFUSED])
async def test_a_parameter_v1_cannot_carry_is_refused_by_name(
    http: httpx.AsyncClient, sim: OpenAISimulator, patch: dict[str, Any], param: str
) -> None:
    answer = await post_chat(http, {**chat_body(), **patch})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error" and error["message"]
    assert sim.requests == [], "nothing reached the provider"


async def test_bad_bodies_are_clear_400s_and_413s(sim: OpenAISimulator, start_gateway: StartGateway) -> None:
    gateway = await start_gateway(
        provider_config("openai", sim.base_url) | {"limits": {"max_request_bytes": 4096}}
    )
    async with httpx.AsyncClient(base_url=door_url(gateway), timeout=10) as http:
        garbled = await http.post(
            "/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
        )
        listed = await http.post("/chat/completions", json=[1, 2])
        # The HTTP limit leaves room for base64 and JSON around max_request_bytes (1 MiB and more).
        huge = await post_chat(http, chat_body(text="x" * 1_200_000))
    assert garbled.status_code == 400 and "parse the JSON body" in garbled.json()["error"]["message"]
    assert listed.status_code == 400 and listed.json()["error"]["type"] == "invalid_request_error"
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "request_too_large"
    assert sim.requests == []


# --- errors --------------------------------------------------------------------------------------


async def test_an_upstream_rate_limit_is_a_429_with_retry_after(
    http: httpx.AsyncClient, sim: OpenAISimulator
) -> None:
    sim.behaviour = Behaviour(status=429, retry_after="7", error_code="rate_limit_exceeded")
    unary = await post_chat(http, chat_body())
    streamed = await post_chat(http, chat_body(stream=True))
    for answer in (unary, streamed):
        assert answer.status_code == 429
        assert answer.headers["retry-after"] == "7" and answer.headers["retry-after-ms"] == "7000"
        error = answer.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "upstream_rate_limited")


@pytest.mark.parametrize(
    ("behaviour", "status", "code"),
    [
        (Behaviour(status=503), 503, "upstream_unavailable"),
        (Behaviour(status=400, error_code="context_length_exceeded"), 400, "context_length_exceeded"),
        (Behaviour(latency=5), 504, "upstream_timeout"),
    ],
    ids=["unavailable", "context_length", "timeout"],
)
async def test_upstream_failures_keep_their_status(
    http: httpx.AsyncClient, sim: OpenAISimulator, behaviour: Behaviour, status: int, code: str
) -> None:
    sim.behaviour = behaviour
    answer = await post_chat(http, chat_body())
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert KEY not in answer.text


async def test_a_failure_mid_stream_is_an_error_event_and_no_done(
    http: httpx.AsyncClient, sim: OpenAISimulator
) -> None:
    sim.behaviour = Behaviour(reply_text="one two three four five", stream_error_after=2)
    answer = await post_chat(http, chat_body(stream=True))
    assert answer.status_code == 200
    data = events(answer.text)
    assert "[DONE]" not in data
    last = json.loads(data[-1])
    assert last["error"]["code"] == "stream_interrupted" and last["error"]["type"] == "server_error"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks(answer.text)[:-1])
    assert text == "one two"  # what the provider sent before its error, then the error


async def test_keys_policy_and_models(sim: OpenAISimulator, start_gateway: StartGateway) -> None:
    key, key_id, key_hash = new_key()
    narrow, narrow_id, narrow_hash = new_key()
    config = provider_config("openai", sim.base_url)
    deployment = {**config["models"][0]["deployments"][0], "name": "other"}
    config["models"].append({"name": "other", "aliases": ["other-alias"], "deployments": [deployment]})
    config["auth"] = {
        "enabled": True,
        "keys": [
            {"id": key_id, "hash": key_hash, "tenant": "t"},
            {"id": narrow_id, "hash": narrow_hash, "tenant": "t", "policy": {"models": ["other"]}},
        ],
    }
    gateway = await start_gateway(config)
    async with httpx.AsyncClient(base_url=door_url(gateway), timeout=10) as http:
        bearer = await post_chat(http, chat_body(), headers={"authorization": f"Bearer {key}"})
        x_api_key = await post_chat(http, chat_body(), headers={"x-api-key": key})
        nokey = await post_chat(http, chat_body())
        wrong = await post_chat(http, chat_body(), headers={"authorization": "Bearer sk-wrong-123456"})
        forbidden = await post_chat(http, chat_body(), headers={"x-api-key": narrow})
        unknown = await post_chat(http, chat_body(model="gpt-9"), headers={"x-api-key": key})
        listed = await http.get("/models", headers={"x-api-key": key})
        one = await http.get("/models/other-alias", headers={"x-api-key": key})
        missing = await http.get("/models/gpt-9", headers={"x-api-key": key})
        unlisted = await http.get("/models")
    assert (bearer.status_code, x_api_key.status_code) == (200, 200)
    assert (nokey.status_code, wrong.status_code) == (401, 401)
    assert wrong.json()["error"]["code"] == "invalid_api_key" and "sk-wrong" not in wrong.text
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "model_not_allowed")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "model_not_found")
    assert listed.json() == {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "llmgateway"}
            for name in ["conf", "conf-embed", "other", "other-alias"]
        ],
    }
    assert one.json()["id"] == "other-alias"
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "model_not_found")
    assert unlisted.status_code == 401


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
async def test_a_caller_that_disconnects_closes_the_upstream_call(
    gateway: Gateway, sim: OpenAISimulator, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    sim.behaviour = Behaviour(
        reply_text="a b c d e f g h i j k l", inter_token=0.3, latency=0 if stream else 3
    )
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(base_url=door_url(gateway), timeout=10) as http:
            if stream:
                async with http.stream("POST", "/chat/completions", json=chat_body(stream=True)) as answer:
                    async for line in answer.aiter_lines():
                        if '"content":"a' in line.replace(" ", ""):
                            break
            else:
                with pytest.raises(httpx.ReadTimeout):
                    await post_chat(http, chat_body(), timeout=0.5)
        await sim.wait_for_disconnects(1)
        async with asyncio.timeout(2):
            while not any(r.name == ACCESS_LOGGER for r in caplog.records):
                await asyncio.sleep(0.01)
    [line] = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert (line["frontend"], line["code"]) == ("openai", "CANCELLED")
    # A caller going away is an expected event: nothing at ERROR, no traceback.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
