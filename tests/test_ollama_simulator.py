"""Tests of the Ollama upstream simulator itself, driven over real HTTP with httpx."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.upstreams.ollama import Behaviour, OllamaSimulator

CHAT = "/api/chat"
REPO = Path(__file__).resolve().parent.parent
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


@pytest.fixture(scope="module")
def sim() -> Iterator[OllamaSimulator]:
    with OllamaSimulator() as server:
        yield server


@pytest.fixture
def upstream(sim: OllamaSimulator) -> Iterator[OllamaSimulator]:
    sim.reset()
    yield sim
    sim.reset()


@pytest.fixture
def client(upstream: OllamaSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=upstream.base_url, timeout=5.0) as c:
        yield c


def chat(text: str = "hello there", model: str = "llama3.2", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def stream_lines(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", CHAT, json=body) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/x-ndjson"
        return [json.loads(line) for line in resp.iter_lines() if line]


# ---- shapes ------------------------------------------------------------------------------------------


def test_stream_is_the_default_and_ndjson(client: httpx.Client) -> None:
    lines = stream_lines(client, chat("one two"))
    *chunks, last = lines
    assert [c["message"] for c in chunks] == [
        {"role": "assistant", "content": "You"},
        {"role": "assistant", "content": " said:"},
        {"role": "assistant", "content": " one"},
        {"role": "assistant", "content": " two"},
    ]
    assert all(c["done"] is False and c["model"] == "llama3.2" for c in chunks)
    assert all(TIMESTAMP.match(line["created_at"]) for line in lines)
    assert last["done"] is True and last["done_reason"] == "stop"
    assert last["message"] == {"role": "assistant", "content": ""}
    assert (last["prompt_eval_count"], last["eval_count"]) == (2, 4)
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(last[key], int) and last[key] > 0
    assert last["total_duration"] >= last["eval_duration"]


def test_unary_when_stream_false(client: httpx.Client) -> None:
    resp = client.post(CHAT, json=chat("hi", stream=False))
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert body["message"] == {"role": "assistant", "content": "You said: hi"}
    assert (body["done"], body["done_reason"], body["eval_count"]) == (True, "stop", 3)


def test_num_predict_truncates_with_length(client: httpx.Client) -> None:
    body = client.post(CHAT, json=chat("a b c", stream=False, options={"num_predict": 2})).json()
    assert (body["message"]["content"], body["done_reason"], body["eval_count"]) == ("You said:", "length", 2)


def test_thinking_model_thinks_unless_told_not_to(client: httpx.Client) -> None:
    lines = stream_lines(client, chat("x", model="qwen3:8b"))
    assert "".join(line["message"].get("thinking", "") for line in lines).startswith("Let me think")
    body = client.post(CHAT, json=chat("x", model="qwen3:8b", stream=False, think=False)).json()
    assert "thinking" not in body["message"]
    refused = client.post(CHAT, json=chat("x", think=True))
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": '"llama3.2:latest" does not support thinking'},
    )


def test_tool_calls_come_whole_with_object_arguments(client: httpx.Client, upstream: OllamaSimulator) -> None:
    upstream.behaviour = Behaviour(tool_calls=[("get_weather", '{"city": "Paris"}'), ("get_time", "{}")])
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    lines = stream_lines(client, chat("weather?", tools=tools))
    calls = [c for line in lines for c in line["message"].get("tool_calls", [])]
    assert [c["function"] for c in calls] == [
        {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
        {"index": 1, "name": "get_time", "arguments": {}},
    ]
    assert all(re.fullmatch(r"call_[a-z0-9]{8}", c["id"]) for c in calls)
    assert lines[-1]["done_reason"] == "stop"  # Ollama does not say "tool_calls"
    unary = client.post(CHAT, json=chat("weather?", tools=tools, stream=False)).json()
    assert len(unary["message"]["tool_calls"]) == 2


def test_full_featured_request_is_accepted(client: httpx.Client, upstream: OllamaSimulator) -> None:
    body = {
        "model": "llava",
        "stream": False,
        "keep_alive": "5m",
        "format": {"type": "object", "properties": {"a": {"type": "string"}}},
        "options": {
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "num_predict": 100,
            "stop": ["END"],
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.1,
            "mirostat_eta": 1,
        },
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "what is this", "images": ["iVBORw0KGgo="]},
            {
                "role": "assistant",
                "content": "",
                "thinking": "hmm",
                "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": {"x": 1}}}],
            },
            {"role": "tool", "content": "42", "tool_name": "f", "tool_call_id": "call_1"},
            {"role": "USER", "content": "thanks"},
        ],
    }
    resp = client.post(CHAT, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["message"]["content"] == "You said: thanks"
    assert upstream.warnings == ["invalid option provided: mirostat_eta"]


def test_models_version_and_root(client: httpx.Client) -> None:
    models = client.get("/api/tags").json()["models"]
    assert [m["name"] for m in models] == ["llama3.2:latest", "qwen3:8b", "llava:latest"]
    assert models[0]["details"]["format"] == "gguf"
    assert client.get("/api/version").json() == {"version": "0.12.6"}
    assert client.get("/").text == "Ollama is running"
    missing = client.get("/v1/nothing")
    assert (missing.status_code, missing.text) == (404, "404 page not found")


# ---- rejections --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"messages": []}, 400, "model is required"),
        (chat(model="mistral"), 404, "model 'mistral' not found"),
        ({"model": "llama3.2", "messages": [{"role": "robot", "content": "x"}]}, 400, "invalid role"),
        ({"model": "llama3.2", "messages": [{"role": "user", "content": ["x"]}]}, 400, "cannot unmarshal array"),
        ({"model": "llama3.2", "messages": [{"role": "user", "content": "x", "images": ["@@"]}]}, 400, "illegal base64 data at input byte 0"),
        ({"model": "llama3.2", "messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]}, 400, "cannot unmarshal string"),
        (chat(stream="yes"), 400, "cannot unmarshal string into Go struct field ChatRequest.stream"),
        (chat(format="yaml"), 400, "invalid format"),
        (chat(options={"num_predict": "many"}), 500, 'option "num_predict" must be of type integer'),
        (chat(options={"stop": "END"}), 500, 'option "stop" must be of type array'),
        (chat(model="llava", tools=[{"type": "function", "function": {"name": "f"}}]), 400, "does not support tools"),
    ],
)  # fmt: skip
def test_rejections(client: httpx.Client, body: dict[str, Any], status: int, message: str) -> None:
    resp = client.post(CHAT, json=body)
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    assert message in resp.json()["error"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"{nope", "invalid character 'n' looking for beginning of value"), (b"", "missing request body")],
)
def test_invalid_json(client: httpx.Client, raw: bytes, message: str) -> None:
    resp = client.post(CHAT, content=raw)
    assert (resp.status_code, resp.json()) == (400, {"error": message})


def test_proxy_auth_when_a_key_is_set() -> None:
    with OllamaSimulator(api_key="proxy-key-123") as server, httpx.Client(base_url=server.base_url) as c:
        assert c.post(CHAT, json=chat()).status_code == 401
        assert c.get("/api/tags").json() == {"error": "unauthorized"}
        ok = c.post(CHAT, json=chat(stream=False), headers={"Authorization": "Bearer proxy-key-123"})
        assert ok.status_code == 200


# ---- knobs -------------------------------------------------------------------------------------------


def test_forced_errors_and_overrides(client: httpx.Client, upstream: OllamaSimulator) -> None:
    upstream.enqueue(
        Behaviour(status=429, error_message="too many requests", retry_after="3"),
        Behaviour(status=502, error_body="<html>bad gateway</html>", content_type="text/html"),
        Behaviour(raw_body=b"not json"),
        Behaviour(reply_text="override", finish_reason="load"),
    )
    first = client.post(CHAT, json=chat())
    assert (first.status_code, first.json(), first.headers["retry-after"]) == (
        429,
        {"error": "too many requests"},
        "3",
    )
    second = client.post(CHAT, json=chat())
    assert (second.status_code, second.text) == (502, "<html>bad gateway</html>")
    assert client.post(CHAT, json=chat()).content == b"not json"
    body = client.post(CHAT, json=chat(stream=False)).json()
    assert (body["message"]["content"], body["done_reason"]) == ("override", "load")


def test_cut_before_the_done_line(client: httpx.Client, upstream: OllamaSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c", cut_after=2)
    lines = stream_lines(client, chat())
    assert [line["message"]["content"] for line in lines] == ["a", " b"]
    upstream.behaviour = Behaviour(reply_text="a b", cut_after=2)
    lines = stream_lines(client, chat())
    assert len(lines) == 2 and not any(line["done"] for line in lines)
    assert upstream.completed == 2


def test_stream_error_line(client: httpx.Client, upstream: OllamaSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c", stream_error_after=1, error_message="model crashed")
    lines = stream_lines(client, chat())
    assert lines == [lines[0], {"error": "model crashed"}]


def test_reset_aborts_the_connection(client: httpx.Client, upstream: OllamaSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b c", reset_after=1)
    received = b""
    with pytest.raises(httpx.TransportError), client.stream("POST", CHAT, json=chat()) as resp:
        for piece in resp.iter_bytes():
            received += piece
    assert [json.loads(line)["message"]["content"] for line in received.splitlines()] == ["a"]
    assert upstream.completed == 0


def test_stall_counts_a_disconnect(upstream: OllamaSimulator) -> None:
    upstream.behaviour = Behaviour(stall_after=1)
    with (
        httpx.Client(base_url=upstream.base_url, timeout=httpx.Timeout(5.0, read=0.2)) as c,
        pytest.raises(httpx.ReadTimeout),
        c.stream("POST", CHAT, json=chat()) as resp,
    ):
        resp.read()
    upstream.wait_for_disconnects_sync(1)


def test_split_writes_split_lines_across_reads(client: httpx.Client, upstream: OllamaSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="héllo wörld", split_writes=True, crlf=True, comments=True)
    with client.stream("POST", CHAT, json=chat()) as resp:
        pieces = list(resp.iter_raw())
    raw = b"".join(pieces)
    assert len(pieces) > raw.count(b"\n")
    assert b"\r" not in raw and b": ping" not in raw  # SSE-only knobs do not apply
    assert "".join(json.loads(line)["message"]["content"] for line in raw.splitlines()) == "héllo wörld"


def test_ttft_and_inter_token(client: httpx.Client, upstream: OllamaSimulator) -> None:
    upstream.behaviour = Behaviour(reply_text="a b", ttft=0.2, inter_token=0.05)
    started = time.monotonic()
    stream_lines(client, chat())
    assert time.monotonic() - started >= 0.25


def test_standalone_entry_point() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.upstreams.ollama", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", proc.stdout.readline())
        assert match
        with httpx.Client(base_url=match.group(1)) as c:
            assert (
                c.post(CHAT, json=chat(stream=False)).json()["message"]["content"] == "You said: hello there"
            )
        proc.terminate()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
