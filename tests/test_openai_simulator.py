"""Tests of the OpenAI upstream simulator itself, driven over real HTTP with httpx."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx_sse
import pytest

from tests.upstreams.openai import Behaviour, OpenAISimulator, mask_key

KEY = "sk-sim-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = "/v1/chat/completions"
REPO = Path(__file__).resolve().parent.parent
# Building a client's default TLS context costs ~50 ms (CA bundle load) even for plain http; share one.
TLS = ssl.create_default_context()


def http(base_url: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=base_url, verify=TLS, **kwargs)


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=KEY) as server:
        yield server
    assert not any(t.name == "openai-simulator" and t.is_alive() for t in threading.enumerate())


@pytest.fixture
def upstream(sim: OpenAISimulator) -> Iterator[OpenAISimulator]:
    sim.reset()
    yield sim
    sim.reset()


@pytest.fixture
def client(upstream: OpenAISimulator) -> Iterator[httpx.Client]:
    with http(upstream.base_url, headers=AUTH, timeout=5.0) as c:
        yield c


def chat(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def parse_sse(raw: bytes) -> list[str]:
    """The `data` of each SSE event, per the WHATWG rules the simulator's quirks exercise."""
    events: list[str] = []
    data: list[str] = []
    for line in re.split(r"\r\n|\r|\n", raw.decode()):
        if not line:
            # A blank line dispatches only if something was buffered; keep-alive blanks are ignored.
            if data:
                events.append("\n".join(data))
                data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value.removeprefix(" "))
    return events


def stream_chunks(client: httpx.Client, body: dict[str, Any]) -> list[str]:
    resp = client.post(CHAT, json={**body, "stream": True})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    return parse_sse(resp.content)


def stable(events: list[str]) -> list[Any]:
    """Events with the per-request random fields removed, so two streams can be compared."""
    out: list[Any] = []
    for data in events:
        if data == "[DONE]":
            out.append(data)
            continue
        obj = json.loads(data)
        obj.pop("id")
        obj.pop("created")
        out.append(obj)
    return out


# ---- happy paths --------------------------------------------------------------------------------------


def test_unary_body_shape(client: httpx.Client, upstream: OpenAISimulator) -> None:
    resp = client.post(CHAT, json=chat("hello there friend"))

    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-request-id"].startswith("req_")
    body = resp.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["system_fingerprint"] == "fp_sim"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "You said: hello there friend", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 5,
        "total_tokens": 8,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    assert upstream.completed == 1
    recorded = upstream.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", CHAT)
    assert recorded.headers["authorization"] == f"Bearer {KEY}"
    assert recorded.body == chat("hello there friend")
    assert json.loads(recorded.raw) == recorded.body


def test_stream_with_usage(client: httpx.Client) -> None:
    events = stream_chunks(client, chat("hello   there\nfriend", stream_options={"include_usage": True}))

    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["usage"] is None for c in chunks[:-1])

    role, *words, finish, usage = chunks
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [w["choices"][0]["delta"]["content"] for w in words] == [
        "You",
        " said:",
        " hello",
        "   there",
        "\nfriend",
    ]
    assert "".join(w["choices"][0]["delta"]["content"] for w in words) == "You said: hello   there\nfriend"
    assert all(c["choices"][0]["finish_reason"] is None for c in [role, *words])
    assert finish["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len(words)
    assert usage["usage"]["prompt_tokens"] == 3
    assert usage["usage"]["total_tokens"] == 3 + len(words)


def test_stream_without_usage_has_no_usage_fields(client: httpx.Client) -> None:
    events = stream_chunks(client, chat())
    assert events[-1] == "[DONE]"
    assert all("usage" not in json.loads(e) for e in events[:-1])
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "stop"


def test_stream_tool_calls_reassemble(client: httpx.Client, upstream: OpenAISimulator) -> None:
    calls = [("get_weather", '{"city": "Paris", "unit": "celsius"}'), ("get_time", '{"tz":"Europe/Paris"}')]
    upstream.behaviour = Behaviour(tool_calls=calls)

    events = stream_chunks(client, chat("weather?", stream_options={"include_usage": True}))

    chunks = [json.loads(e) for e in events[:-1]]
    assembled: dict[int, dict[str, str]] = {}
    for c in chunks[1:-2]:
        for delta in c["choices"][0]["delta"]["tool_calls"]:
            slot = assembled.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
            if "id" in delta:
                assert delta["type"] == "function"
                assert delta["function"]["arguments"] == ""
                slot["id"] = delta["id"]
                slot["name"] = delta["function"]["name"]
            else:
                assert len(delta["function"]["arguments"]) <= 5
            slot["arguments"] += delta["function"]["arguments"]
    assert [(a["name"], a["arguments"]) for _, a in sorted(assembled.items())] == calls
    assert all(a["id"].startswith("call_") for a in assembled.values())
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == len(chunks) - 3


def test_unary_tool_calls(client: httpx.Client, upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(tool_calls=[("lookup", '{"q":"x"}')])
    choice = client.post(CHAT, json=chat()).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"] == {"name": "lookup", "arguments": '{"q":"x"}'}


def test_max_tokens_truncates_with_length(client: httpx.Client, upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="one two three four five")
    body = client.post(CHAT, json=chat(max_completion_tokens=2)).json()
    assert body["choices"][0]["message"]["content"] == "one two"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 2

    events = stream_chunks(client, chat(max_tokens=3))
    words = [json.loads(e)["choices"][0]["delta"].get("content") for e in events[1:-2]]
    assert "".join(words) == "one two three"
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "length"


def test_models(client: httpx.Client) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = {m["id"] for m in body["data"]}
    assert {"gpt-4o-mini", "gpt-4o"} <= ids
    assert body["data"][0] == {
        "id": "gpt-4o-mini",
        "object": "model",
        "created": 1700000000,
        "owned_by": "openai",
    }
    assert client.get("/v1/models/gpt-4o").json()["id"] == "gpt-4o"


def test_accepts_a_full_featured_valid_request(client: httpx.Client) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Answer in json."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "see", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
        "tools": [{"type": "function", "function": {"name": "see", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "see"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {}, "strict": True},
        },
        "temperature": 0.5,
        "top_p": 1,
        "n": 1,
        "stop": ["a", "b", "c", "d"],
        "max_completion_tokens": 50,
    }
    resp = client.post(CHAT, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["model"] == "gpt-4o-2024-08-06"


# ---- errors ----------------------------------------------------------------------------------------------

_TOOL_TURN = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
}
_FN = {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        pytest.param(chat(top_k=5), "top_k", "Unrecognized request argument supplied: top_k", id="top_k"),
        pytest.param(
            {"model": "gpt-4o-mini", "messages": [{"role": "bot", "content": "x"}]},
            "messages[0].role",
            "Invalid value: 'bot'",
            id="bad-role",
        ),
        pytest.param(
            {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "x"}, _TOOL_TURN, {"role": "tool", "content": "r"}],
            },
            "messages[2].tool_call_id",
            "Missing required parameter",
            id="tool-without-id",
        ),
        pytest.param(
            {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "user", "content": "x"},
                    _TOOL_TURN,
                    {"role": "tool", "content": "r", "tool_call_id": "call_2"},
                ],
            },
            "messages[2].tool_call_id",
            "must be a response to a preceeding message",
            id="tool-id-mismatch",
        ),
        pytest.param(
            chat(tools=[_FN, _FN]), "tools[1].function.name", "must be unique", id="duplicate-tools"
        ),
        pytest.param(
            chat(tools=[{"type": "function", "function": {"name": "has space"}}]),
            "tools[0].function.name",
            "does not match pattern",
            id="bad-tool-name",
        ),
        pytest.param(
            chat(tool_choice="auto"), "tool_choice", "only allowed when 'tools'", id="tool-choice-no-tools"
        ),
        pytest.param(
            chat(tools=[_FN], tool_choice={"type": "function", "function": {"name": "g"}}),
            "tool_choice.function.name",
            "not among the provided tools",
            id="tool-choice-unknown",
        ),
        pytest.param(
            chat(stream_options={"include_usage": True}),
            "stream_options",
            "only allowed when 'stream'",
            id="stream-options",
        ),
        pytest.param(
            chat(max_tokens=5, max_completion_tokens=5), "max_tokens", "cannot both be set", id="both-max"
        ),
        pytest.param(chat(temperature=2.5), "temperature", "above maximum value", id="temperature"),
        pytest.param(chat(top_p=-0.1), "top_p", "below minimum value", id="top_p"),
        pytest.param(chat(n=2), "n", "only n=1", id="n"),
        pytest.param(chat(stop=["a", "b", "c", "d", "e"]), "stop", "array too long", id="stop"),
        pytest.param(
            chat(response_format={"type": "xml"}), "response_format.type", "Invalid value: 'xml'", id="format"
        ),
        pytest.param(
            chat(response_format={"type": "json_object"}),
            "messages",
            "must contain the word 'json'",
            id="json-word",
        ),
        pytest.param(
            chat(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
            "response_format.json_schema.name",
            "Missing required parameter",
            id="schema-name",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": "x"}]}, "model", "must provide a model", id="no-model"
        ),
        pytest.param(
            {"model": "gpt-4o-mini", "messages": []}, "messages", "empty array", id="empty-messages"
        ),
        pytest.param(
            {"model": "gpt-4o-mini", "messages": "hi"}, "messages", "expected an array", id="messages-type"
        ),
        pytest.param(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 3}]},
            "messages[0].content",
            "Invalid type",
            id="content-type",
        ),
        pytest.param(
            {
                "model": "gpt-4o-mini",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}],
                    }
                ],
            },
            "messages[0].content[0].image_url.url",
            "https://",
            id="image-url",
        ),
        pytest.param(
            {
                "model": "gpt-4o-mini",
                "messages": [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}],
                    }
                ],
            },
            "messages[0].tool_calls[0].function.arguments",
            "Missing required parameter",
            id="tool-call-arguments",
        ),
    ],
)
def test_validation_errors(client: httpx.Client, body: dict[str, Any], param: str, message: str) -> None:
    resp = client.post(CHAT, json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert message in error["message"]


def test_body_not_json(client: httpx.Client, upstream: OpenAISimulator) -> None:
    resp = client.post(CHAT, content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert "could not parse the JSON body" in resp.json()["error"]["message"]
    assert upstream.requests[-1].body is None
    assert upstream.requests[-1].raw == b"{not json"


def test_unauthorized_masks_key(upstream: OpenAISimulator) -> None:
    wrong = "sk-wrong-key-123456"
    with http(upstream.base_url) as c:
        resp = c.post(CHAT, json=chat(), headers={"Authorization": f"Bearer {wrong}"})
        missing = c.post(CHAT, json=chat())
    assert resp.status_code == 401
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert error["param"] is None
    assert error["message"].startswith("Incorrect API key provided: sk-w****3456.")
    assert wrong not in resp.text
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert mask_key("sk-sim-test") == "sk-s****test"
    assert mask_key("short") == "****"


def test_unknown_model_and_path(client: httpx.Client) -> None:
    resp = client.post(CHAT, json={**chat(), "model": "gpt-9"})
    assert resp.status_code == 404
    assert resp.json() == {
        "error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    resp = client.post("/v1/completions", json={})
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == "Invalid URL (POST /v1/completions)"


def test_forced_error_with_retry_after(client: httpx.Client, upstream: OpenAISimulator) -> None:
    upstream.enqueue(
        Behaviour(
            status=429, retry_after="2", error_type="rate_limit_error", error_code="rate_limit_exceeded"
        )
    )
    resp = client.post(CHAT, json=chat(stream=True))
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "2"
    assert resp.headers["x-ratelimit-remaining-requests"] == "0"
    assert resp.headers["x-ratelimit-limit-requests"]
    assert resp.headers["x-ratelimit-reset-requests"] == "2s"
    assert resp.headers["x-request-id"]
    assert resp.json() == {
        "error": {
            "message": "simulated error",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def test_error_body_and_raw_body_overrides(client: httpx.Client, upstream: OpenAISimulator) -> None:
    upstream.enqueue(
        Behaviour(status=500, error_body="<html>bad gateway</html>", content_type="text/html"),
        Behaviour(status=503, error_body={"error": {"message": "overloaded"}}),
        Behaviour(raw_body=b'{"choices": [', content_type="application/json"),
    )
    first = client.post(CHAT, json=chat())
    assert (first.status_code, first.text, first.headers["content-type"]) == (
        500,
        "<html>bad gateway</html>",
        "text/html",
    )
    second = client.post(CHAT, json=chat())
    assert (second.status_code, second.json()) == (503, {"error": {"message": "overloaded"}})
    third = client.post(CHAT, json=chat())
    assert (third.status_code, third.content) == (200, b'{"choices": [')


def test_enqueue_is_fifo_then_default(client: httpx.Client, upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="default")
    upstream.enqueue(Behaviour(reply_text="first"), Behaviour(status=503))
    upstream.enqueue(Behaviour(reply_text="third"))
    results = [client.post(CHAT, json=chat()) for _ in range(4)]
    assert [r.status_code for r in results] == [200, 503, 200, 200]
    contents = [r.json()["choices"][0]["message"]["content"] for r in results if r.status_code == 200]
    assert contents == ["first", "third", "default"]


# ---- stream faults -----------------------------------------------------------------------------------


def test_cut_after_ends_cleanly_without_done(client: httpx.Client, upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c d", cut_after=2)
    events = stream_chunks(client, chat(stream_options={"include_usage": True}))
    assert "[DONE]" not in events
    chunks = [json.loads(e) for e in events]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["", "a", " b"]
    assert all(c["choices"] for c in chunks)

    # When N covers the whole reply the finish chunk still goes out; only usage and [DONE] are missing.
    upstream.behaviour = Behaviour(reply_text="a b", cut_after=2)
    events = stream_chunks(client, chat(stream_options={"include_usage": True}))
    assert json.loads(events[-1])["choices"][0]["finish_reason"] == "stop"
    assert upstream.disconnects == 0
    assert upstream.completed == 2


def read_until_error(client: httpx.Client, body: dict[str, Any]) -> tuple[bytes, Exception | None]:
    """Stream a response, returning what arrived before the transport failed (and the failure)."""
    received = b""
    try:
        with client.stream("POST", CHAT, json=body) as resp:
            assert resp.status_code == 200
            for piece in resp.iter_bytes():
                received += piece
    except httpx.TransportError as exc:
        return received, exc
    return received, None


def test_reset_after_aborts_connection(upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c d", reset_after=1)
    with http(upstream.base_url, headers=AUTH, timeout=5.0) as c:
        received, error = read_until_error(c, chat(stream=True))
    assert isinstance(error, httpx.RemoteProtocolError | httpx.ReadError)
    assert [json.loads(e)["choices"][0]["delta"].get("content") for e in parse_sse(received)] == ["", "a"]
    assert upstream.disconnects == 0
    assert upstream.completed == 0


def test_stall_then_client_gives_up_counts_disconnect(upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c", stall_after=1)
    with http(upstream.base_url, headers=AUTH, timeout=httpx.Timeout(5.0, read=0.2)) as c:
        received, error = read_until_error(c, chat(stream=True))
    assert isinstance(error, httpx.ReadTimeout)
    assert len(parse_sse(received)) == 2
    upstream.wait_for_disconnects_sync(1)
    assert upstream.completed == 0


@pytest.mark.parametrize(
    "behaviour",
    [
        pytest.param(Behaviour(stall_after=0), id="unary-stall"),
        pytest.param(Behaviour(latency=10.0), id="latency"),
    ],
)
def test_unary_stall_and_latency_disconnects(upstream: OpenAISimulator, behaviour: Behaviour) -> None:
    upstream.behaviour = behaviour
    with (
        http(upstream.base_url, headers=AUTH, timeout=0.2) as c,
        pytest.raises(httpx.ReadTimeout),
    ):
        c.post(CHAT, json=chat())
    upstream.wait_for_disconnects_sync(1)


def test_stream_stall_before_first_chunk_sends_headers(upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(stall_after=0)
    with (
        http(upstream.base_url, headers=AUTH, timeout=httpx.Timeout(5.0, read=0.2)) as c,
        c.stream("POST", CHAT, json=chat(stream=True)) as resp,
    ):
        assert resp.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            resp.read()
    upstream.wait_for_disconnects_sync(1)


async def test_disconnect_seen_from_another_event_loop(upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c", inter_token=10.0)
    async with httpx.AsyncClient(base_url=upstream.base_url, headers=AUTH, verify=TLS) as c:

        async def consume() -> None:
            async with c.stream("POST", CHAT, json=chat(stream=True)) as resp:
                async for _ in resp.aiter_bytes():
                    pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await upstream.wait_for_disconnects(1)
    assert upstream.disconnects == 1
    with pytest.raises(TimeoutError):
        await upstream.wait_for_disconnects(2, timeout=0.05)


def test_ttft_and_inter_token_timing(client: httpx.Client, upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b", ttft=0.2, inter_token=0.05)
    arrivals: list[float] = []
    with client.stream("POST", CHAT, json=chat(stream=True)) as resp:
        headers_at = time.monotonic()
        for line in resp.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic() - headers_at)
    assert len(arrivals) == 5
    assert arrivals[0] >= 0.15
    assert arrivals[-1] - arrivals[0] >= 0.15


def test_wire_quirks_parse_to_the_same_events(client: httpx.Client, upstream: OpenAISimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="héllo wörld")
    plain = stable(stream_chunks(client, chat()))

    upstream.behaviour = Behaviour(reply_text="héllo wörld", crlf=True, comments=True, split_writes=True)
    pieces: list[bytes] = []
    with client.stream("POST", CHAT, json=chat(stream=True)) as resp:
        pieces.extend(resp.iter_raw())
    raw = b"".join(pieces)
    assert b"\r\n" in raw
    assert b": ping" in raw
    assert len(pieces) > len(plain)
    assert stable(parse_sse(raw)) == plain

    # And an independent SSE implementation agrees.
    with httpx_sse.connect_sse(client, "POST", CHAT, json=chat(stream=True)) as source:
        assert stable([sse.data for sse in source.iter_sse()]) == plain


# ---- connection handling and lifecycle ---------------------------------------------------------------


def test_keep_alive_reuses_connections(client: httpx.Client, upstream: OpenAISimulator) -> None:
    for _ in range(3):
        assert client.post(CHAT, json=chat()).status_code == 200
    stream_chunks(client, chat())
    assert upstream.connections_opened == 1
    with http(upstream.base_url, headers=AUTH) as other:
        other.get("/v1/models")
    assert upstream.connections_opened == 2


def test_stop_is_prompt_with_stalled_requests_and_frees_the_port() -> None:
    server = OpenAISimulator(api_key=None).start()
    port = int(server.base_url.rsplit(":", 1)[1])
    server.behaviour = Behaviour(stall_after=0)
    with (
        http(server.base_url, timeout=5.0) as c,
        c.stream("POST", CHAT, json=chat(stream=True)) as resp,
    ):
        assert resp.status_code == 200
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 3.0
        with pytest.raises(httpx.TransportError):
            resp.read()
    assert server.disconnects == 0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_start_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = OpenAISimulator(port=busy.getsockname()[1])
        with pytest.raises(RuntimeError, match="failed to start"):
            server.start()
        server.stop()


def test_standalone_entry_point() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.upstreams.openai",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            "k-12345678",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        with http(match.group(1), headers={"Authorization": "Bearer k-12345678"}) as c:
            assert (
                c.post(CHAT, json=chat()).json()["choices"][0]["message"]["content"]
                == "You said: hello there"
            )
        proc.terminate()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
