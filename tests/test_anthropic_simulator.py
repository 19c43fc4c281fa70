"""Tests of the Anthropic upstream simulator itself, driven over real HTTP with httpx."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx_sse
import pytest

from tests.upstreams import signing
from tests.upstreams.anthropic import AnthropicSimulator, Behaviour

KEY = "sk-ant-sim-test"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
MESSAGES = "/v1/messages"
REPO = Path(__file__).resolve().parent.parent
TLS = ssl.create_default_context()  # shared: building one per client costs a CA bundle load


def http(base_url: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=base_url, verify=TLS, **kwargs)


@pytest.fixture(scope="module")
def sim() -> Iterator[AnthropicSimulator]:
    with AnthropicSimulator() as server:
        yield server


@pytest.fixture
def upstream(sim: AnthropicSimulator) -> Iterator[AnthropicSimulator]:
    sim.reset()
    yield sim
    sim.reset()


@pytest.fixture
def client(upstream: AnthropicSimulator) -> Iterator[httpx.Client]:
    with http(upstream.base_url, headers=HEADERS, timeout=5.0) as c:
        yield c


def body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def events(client: httpx.Client, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE event; the data's `type` always matches the event name."""
    with httpx_sse.connect_sse(client, "POST", MESSAGES, json={**request, "stream": True}) as source:
        assert source.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        out = [(sse.event, json.loads(sse.data)) for sse in source.iter_sse()]
    assert all(data["type"] == name for name, data in out)
    return out


def error_of(resp: httpx.Response) -> tuple[int, str, str]:
    payload = resp.json()
    assert payload["type"] == "error"
    assert payload["request_id"] == resp.headers["request-id"]
    return resp.status_code, payload["error"]["type"], payload["error"]["message"]


# ---- happy paths --------------------------------------------------------------------------------------


def test_unary_shape(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    resp = client.post(MESSAGES, json=body("hello there friend", system="Be brief."))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["request-id"].startswith("req_")
    payload = resp.json()
    assert re.fullmatch(r"msg_01[A-Za-z0-9]{22}", payload.pop("id"))
    assert payload == {
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "text", "text": "You said: hello there friend"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 5,
            "service_tier": "standard",
        },
    }
    recorded = upstream.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", MESSAGES)
    assert recorded.headers["x-api-key"] == KEY
    assert recorded.body == body("hello there friend", system="Be brief.")


def test_stream_event_sequence(client: httpx.Client) -> None:
    stream = events(client, body("hello   there"))
    names = [name for name, _ in stream]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = stream[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 2 and start["usage"]["output_tokens"] == 1
    assert stream[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    deltas = [data["delta"] for name, data in stream if name == "content_block_delta"]
    assert [d["text"] for d in deltas] == ["You", " said:", " hello", "   there"]
    assert all(d["type"] == "text_delta" for d in deltas)
    assert stream[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "input_tokens": 2,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 4,
        },
    }


def test_tool_use_unary_and_streamed(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    calls = [("get_weather", '{"city": "Paris", "unit": "celsius"}'), ("get_time", '{"tz":"Europe/Paris"}')]
    upstream.behaviour = Behaviour(tool_calls=calls)
    payload = client.post(MESSAGES, json=body()).json()
    assert payload["stop_reason"] == "tool_use"
    assert [(b["type"], b["name"], b["input"]) for b in payload["content"]] == [
        ("tool_use", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ("tool_use", "get_time", {"tz": "Europe/Paris"}),
    ]
    assert all(b["id"].startswith("toolu_01") for b in payload["content"])

    stream = events(client, body())
    assert stream[1][0] == "ping"  # no text block: the first block is a tool_use
    blocks: dict[int, dict[str, str]] = {}
    for name, data in stream:
        if name == "content_block_start":
            block = data["content_block"]
            assert block["input"] == {}
            blocks[data["index"]] = {"name": block["name"], "json": ""}
        elif name == "content_block_delta":
            assert data["delta"]["type"] == "input_json_delta"
            assert len(data["delta"]["partial_json"]) <= 5
            blocks[data["index"]]["json"] += data["delta"]["partial_json"]
    assert [(b["name"], b["json"]) for _, b in sorted(blocks.items())] == calls
    assert stream[-2][1]["delta"]["stop_reason"] == "tool_use"
    pieces = sum(
        1 for name, data in stream if name == "content_block_delta" and data["delta"]["partial_json"]
    )
    assert stream[-2][1]["usage"]["output_tokens"] == 2 + pieces


def test_text_then_tool_use_block_indexes(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="Checking.", tool_calls=[("f", "{}")])
    stream = events(client, body())
    starts = [(d["index"], d["content_block"]["type"]) for n, d in stream if n == "content_block_start"]
    assert starts == [(0, "text"), (1, "tool_use")]
    stops = [d["index"] for n, d in stream if n == "content_block_stop"]
    assert stops == [0, 1]


def test_max_tokens_and_stop_sequences(client: httpx.Client) -> None:
    payload = client.post(MESSAGES, json=body("a b c d", max_tokens=2)).json()
    assert (payload["content"][0]["text"], payload["stop_reason"]) == ("You said:", "max_tokens")
    payload = client.post(MESSAGES, json=body("a b c d", stop_sequences=["c d", "zzz"])).json()
    assert payload["content"][0]["text"] == "You said: a b "
    assert (payload["stop_reason"], payload["stop_sequence"]) == ("stop_sequence", "c d")


def test_finish_reason_override(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(finish_reason="refusal")
    assert client.post(MESSAGES, json=body()).json()["stop_reason"] == "refusal"
    assert events(client, body())[-2][1]["delta"]["stop_reason"] == "refusal"


def test_accepts_a_full_featured_valid_request(client: httpx.Client) -> None:
    request = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},  # consecutive: joined
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": signing.sign("anthropic", "hmm")},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny", "is_error": False},
                    {"type": "text", "text": "and?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                    },
                ],
            },
        ],
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END"],
        "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        "metadata": {"user_id": "u1"},
    }
    resp = client.post(MESSAGES, json=request)
    assert resp.status_code == 200, resp.text
    assert resp.json()["content"][0]["text"] == "You said: and?"


def test_models(client: httpx.Client) -> None:
    listing = client.get("/v1/models", params={"limit": 2}).json()
    assert len(listing["data"]) == 2 and listing["has_more"] is True
    rest = client.get("/v1/models", params={"limit": 100, "after_id": listing["last_id"]}).json()
    ids = [m["id"] for m in listing["data"] + rest["data"]]
    assert "claude-sonnet-4-5-20250929" in ids and rest["has_more"] is False
    one = client.get("/v1/models/claude-haiku-4-5").json()
    assert (one["type"], one["id"]) == ("model", "claude-haiku-4-5-20251001")
    assert error_of(client.get("/v1/models/claude-nope"))[:2] == (404, "not_found_error")


# ---- rejections ---------------------------------------------------------------------------------------


def _with_messages(*messages: dict[str, Any]) -> dict[str, Any]:
    return {**body(), "messages": list(messages)}


_TOOL_USE = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
}


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
        (body(max_tokens=0), "max_tokens: Input should be a valid integer greater than or equal to 1"),
        (body(frequency_penalty=0.5), "frequency_penalty: Extra inputs are not permitted"),
        (body(seed=1), "seed: Extra inputs are not permitted"),
        (body(temperature=1.5), "temperature: range"),
        (_with_messages({"role": "system", "content": "x"}, {"role": "user", "content": "hi"}), 'Unexpected role "system"'),
        (_with_messages({"role": "tool", "content": "x"}), "role: Input should be 'user' or 'assistant'"),
        (_with_messages({"role": "assistant", "content": "x"}), 'first message must use the "user" role'),
        (_with_messages({"role": "user", "content": "hi", "name": "bob"}), "messages.0.name: Extra inputs are not permitted"),
        (_with_messages({"role": "user", "content": []}), "non-empty content"),
        (_with_messages({"role": "user", "content": [{"type": "text", "text": ""}]}), "text content blocks must be non-empty"),
        (_with_messages({"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]}), "Input tag 'tool_use'"),
        (_with_messages({"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "x"}]}), "Input tag 'tool_result'"),
        (_with_messages({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}), "unexpected `tool_use_id`"),
        (_with_messages({"role": "user", "content": "hi"}, _TOOL_USE, {"role": "user", "content": "no result"}), "`tool_use` ids were found without `tool_result`"),
        (_with_messages({"role": "user", "content": "hi"}, _TOOL_USE, {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "tool_result", "tool_use_id": "toolu_1"}]}), "tool_result blocks must come first"),
        (_with_messages({"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}]}), "signature: Field required"),
        (_with_messages({"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}]}), "media_type"),
        (_with_messages({"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}}]}), "not valid base64"),
        (body(tools=[{"name": "f", "parameters": {"type": "object"}}]), "tools.0.parameters: Extra inputs are not permitted"),
        (body(tools=[{"name": "f", "input_schema": {"type": "object"}}], tool_choice={"type": "required"}), "tool_choice.type"),
        (body(tools=[{"name": "f", "input_schema": {"type": "object"}}], tool_choice={"type": "tool", "name": "g"}), "Tool 'g' not found"),
        (body(tool_choice={"type": "any"}), "tool_choice may only be specified while providing tools"),
        (body(output_config={"format": {"type": "json_object"}}), "output_config.format"),
        (body(stop_sequences=[" "]), "stop_sequences"),
    ],
)  # fmt: skip
def test_validation_errors(client: httpx.Client, request_body: dict[str, Any], message: str) -> None:
    status, error_type, text = error_of(client.post(MESSAGES, json=request_body))
    assert (status, error_type) == (400, "invalid_request_error")
    assert message in text


@pytest.mark.parametrize("name", ["temperature", "top_p", "top_k"])
def test_new_version_refuses_sampling(client: httpx.Client, name: str) -> None:
    new = {"anthropic-version": "2026-10-21"}
    assert client.post(MESSAGES, json=body(), headers=new).status_code == 200
    sampled = {**body(), name: 1}
    status, _, text = error_of(client.post(MESSAGES, json=sampled, headers=new))
    assert (status, text) == (400, f"{name}: Extra inputs are not permitted")
    assert client.post(MESSAGES, json=sampled).status_code == 200


def test_version_header_required_and_known(upstream: AnthropicSimulator) -> None:
    with http(upstream.base_url, headers={"x-api-key": KEY}) as c:
        assert error_of(c.post(MESSAGES, json=body())) == (
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        )
        resp = c.post(MESSAGES, json=body(), headers={"anthropic-version": "2024-01-01"})
        assert error_of(resp)[:2] == (400, "invalid_request_error")


def test_authentication(upstream: AnthropicSimulator) -> None:
    version = {"anthropic-version": "2023-06-01"}
    with http(upstream.base_url, headers=version) as c:
        assert error_of(c.post(MESSAGES, json=body())) == (
            401,
            "authentication_error",
            "x-api-key header is required",
        )
        wrong = c.post(MESSAGES, json=body(), headers={"x-api-key": "sk-ant-wrong-0123456789"})
        assert error_of(wrong) == (401, "authentication_error", "invalid x-api-key")
        assert "sk-ant-wrong" not in wrong.text
        bearer = c.post(MESSAGES, json=body(), headers={"authorization": f"Bearer {KEY}"})
        assert bearer.status_code == 200


def test_unknown_model_and_path(client: httpx.Client) -> None:
    assert error_of(client.post(MESSAGES, json={**body(), "model": "claude-nope"})) == (
        404,
        "not_found_error",
        "model: claude-nope",
    )
    assert error_of(client.post("/v1/complete", json=body()))[:2] == (404, "not_found_error")


def test_body_not_json(client: httpx.Client) -> None:
    resp = client.post(MESSAGES, content=b"{nope", headers={"content-type": "application/json"})
    assert error_of(resp)[:2] == (400, "invalid_request_error")


# ---- knobs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"), (404, "not_found_error"),
     (413, "request_too_large"), (429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error")],
)  # fmt: skip
def test_forced_errors_use_the_api_vocabulary(
    client: httpx.Client, upstream: AnthropicSimulator, status: int, error_type: str
) -> None:
    upstream.behaviour = Behaviour(status=status, retry_after="3" if status == 429 else None)
    resp = client.post(MESSAGES, json=body())
    assert error_of(resp) == (status, error_type, "simulated error")
    if status == 429:
        assert resp.headers["retry-after"] == "3"
        assert resp.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_forced_error_type_and_bodies(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    upstream.enqueue(
        Behaviour(status=400, error_type="invalid_request_error", error_message="prompt is too long"),
        Behaviour(status=502, error_body="<html>bad gateway</html>", content_type="text/html"),
        Behaviour(raw_body=b"not json", content_type="text/plain"),
    )
    assert error_of(client.post(MESSAGES, json=body()))[2] == "prompt is too long"
    html = client.post(MESSAGES, json=body())
    assert (html.status_code, html.headers["content-type"], html.text) == (
        502,
        "text/html",
        "<html>bad gateway</html>",
    )
    raw = client.post(MESSAGES, json=body())
    assert (raw.status_code, raw.text) == (200, "not json")
    assert client.post(MESSAGES, json=body()).status_code == 200  # the queue is spent


def test_cut_after_leaves_out_message_stop(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c d", cut_after=2)
    stream = events(client, body())
    assert [d["delta"]["text"] for n, d in stream if n == "content_block_delta"] == ["a", " b"]
    assert "message_stop" not in [n for n, _ in stream]
    upstream.behaviour = Behaviour(reply_text="a b", cut_after=2)
    names = [n for n, _ in events(client, body())]
    assert names[-1] == "message_delta"
    assert upstream.completed == 2


def test_stream_error_event(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c", stream_error_after=1, error_message="Overloaded")
    stream = events(client, body())
    assert stream[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    assert [d["delta"]["text"] for n, d in stream if n == "content_block_delta"] == ["a"]


def test_reset_after_aborts_connection(upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c d", reset_after=1)
    received = b""
    with (
        http(upstream.base_url, headers=HEADERS, timeout=5.0) as c,
        pytest.raises(httpx.TransportError),
        c.stream("POST", MESSAGES, json=body(stream=True)) as resp,
    ):
        for piece in resp.iter_bytes():
            received += piece
    assert b'"text":"a"' in received and b'" b"' not in received
    assert upstream.completed == 0 and upstream.disconnects == 0


def test_stall_counts_a_disconnect(upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c", stall_after=1)
    with (
        http(upstream.base_url, headers=HEADERS, timeout=httpx.Timeout(5.0, read=0.2)) as c,
        pytest.raises(httpx.ReadTimeout),
        c.stream("POST", MESSAGES, json=body(stream=True)) as resp,
    ):
        resp.read()
    upstream.wait_for_disconnects_sync(1)
    assert upstream.completed == 0


def test_unary_latency_disconnect(upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(latency=10.0)
    with http(upstream.base_url, headers=HEADERS, timeout=0.2) as c, pytest.raises(httpx.ReadTimeout):
        c.post(MESSAGES, json=body())
    upstream.wait_for_disconnects_sync(1)


def test_ttft_and_inter_token_timing(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b", ttft=0.2, inter_token=0.05)
    arrivals: list[float] = []
    with client.stream("POST", MESSAGES, json=body(stream=True)) as resp:
        headers_at = time.monotonic()
        for line in resp.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic() - headers_at)
    assert arrivals[0] >= 0.15
    assert arrivals[-1] - arrivals[0] >= 0.1


def test_wire_quirks_parse_to_the_same_events(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    def stable(stream: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        return [(n, {k: v for k, v in d.items() if k != "message"}) for n, d in stream]

    upstream.behaviour = Behaviour(reply_text="héllo wörld")
    plain = stable(events(client, body()))
    upstream.behaviour = Behaviour(reply_text="héllo wörld", crlf=True, comments=True, split_writes=True)
    with client.stream("POST", MESSAGES, json=body(stream=True)) as resp:
        raw = b"".join(resp.iter_raw())
    assert b"\r\n" in raw and b": ping" in raw
    assert stable(events(client, body())) == plain


def test_content_type_override(client: httpx.Client, upstream: AnthropicSimulator) -> None:
    upstream.behaviour = Behaviour(content_type="application/json")
    resp = client.post(MESSAGES, json=body(stream=True))
    assert resp.headers["content-type"] == "application/json"
    assert resp.text.startswith("event: message_start")


def test_standalone_entry_point() -> None:
    command = [sys.executable, "-m", "tests.upstreams.anthropic", "--port", "0", "--api-key", "k-12345678"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        with http(
            match.group(1), headers={"x-api-key": "k-12345678", "anthropic-version": "2023-06-01"}
        ) as c:
            assert c.post(MESSAGES, json=body()).json()["content"][0]["text"] == "You said: hello there"
        proc.terminate()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
