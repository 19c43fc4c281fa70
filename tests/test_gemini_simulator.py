"""The Gemini simulator speaks the Generative Language API: shapes, rejections and knobs (plain httpx)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.upstreams.gemini import DEFAULT_API_KEY, Behaviour, GeminiSimulator

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
HEADERS = {"x-goog-api-key": DEFAULT_API_KEY}


@pytest.fixture(scope="module")
def simulator() -> Iterator[GeminiSimulator]:
    with GeminiSimulator() as sim:
        yield sim


@pytest.fixture
def sim(simulator: GeminiSimulator) -> GeminiSimulator:
    simulator.reset()
    return simulator


@pytest.fixture
def http(sim: GeminiSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=HEADERS, timeout=5) as client:
        yield client


def body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def sse_payloads(response: httpx.Response) -> list[dict[str, Any]]:
    lines = response.text.replace("\r\n", "\n").split("\n")
    return [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]


def error_of(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "status", "details"}
    assert error["code"] == response.status_code
    return dict(error)


# --- shapes ------------------------------------------------------------------------------------


def test_unary_reply_shape(http: httpx.Client) -> None:
    system = {"parts": [{"text": "be brief"}]}
    response = http.post(GENERATE, json=body(systemInstruction=system))
    assert response.status_code == 200
    payload = response.json()
    candidate = payload["candidates"][0]
    assert candidate["content"] == {"parts": [{"text": "You said: hello there"}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    usage = payload["usageMetadata"]
    assert (usage["promptTokenCount"], usage["candidatesTokenCount"]) == (4, 4)
    assert usage["totalTokenCount"] == 8
    assert payload["modelVersion"] == "gemini-2.5-flash"
    assert payload["responseId"]


def test_sse_stream_one_word_per_event_and_no_terminator(http: httpx.Client) -> None:
    response = http.post(STREAM, params={"alt": "sse"}, json=body("a b"))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_payloads(response)
    texts = [p["text"] for e in events for p in e["candidates"][0]["content"]["parts"]]
    assert "".join(texts) == "You said: a b"
    assert [e["candidates"][0].get("finishReason") for e in events] == [None] * 4 + ["STOP"]
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 4
    assert "[DONE]" not in response.text


def test_stream_without_alt_sse_is_a_json_array(http: httpx.Client) -> None:
    response = http.post(STREAM, json=body("x"))
    array = response.json()
    assert isinstance(array, list) and array[-1]["candidates"][0]["finishReason"] == "STOP"


def test_tool_calls_have_no_ids_and_arrive_whole(sim: GeminiSimulator, http: httpx.Client) -> None:
    sim.behaviour = Behaviour(tool_calls=[("get_weather", '{"city": "Paris"}')])
    unary = http.post(GENERATE, json=body()).json()
    assert unary["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    ]
    events = sse_payloads(http.post(STREAM, params={"alt": "sse"}, json=body()))
    calls = [p for e in events for p in e["candidates"][0]["content"]["parts"] if "functionCall" in p]
    assert calls == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]


def test_max_output_tokens_truncates(http: httpx.Client) -> None:
    response = http.post(GENERATE, json=body("a b c d", generationConfig={"maxOutputTokens": 2}))
    candidate = response.json()["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert candidate["content"]["parts"][0]["text"] == "You said:"


def test_model_listing(http: httpx.Client) -> None:
    models = http.get("/v1beta/models").json()["models"]
    assert "models/gemini-2.0-flash" in [m["name"] for m in models]
    assert http.get("/v1beta/models/gemini-2.5-flash").json()["displayName"] == "Gemini 2.5 Flash"
    assert http.get("/v1beta/models/nope").status_code == 404


# --- rejections --------------------------------------------------------------------------------


def test_wrong_key_is_400_api_key_invalid(sim: GeminiSimulator) -> None:
    response = httpx.post(sim.base_url + GENERATE, json=body(), headers={"x-goog-api-key": "wrong"})
    error = error_of(response)
    assert (response.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["reason"] == "API_KEY_INVALID"


def test_missing_key_is_403(sim: GeminiSimulator) -> None:
    response = httpx.post(sim.base_url + GENERATE, json=body())
    assert (response.status_code, error_of(response)["status"]) == (403, "PERMISSION_DENIED")


def test_key_in_the_query_is_refused(sim: GeminiSimulator) -> None:
    response = httpx.post(sim.base_url + GENERATE, params={"key": DEFAULT_API_KEY}, json=body())
    assert response.status_code == 400
    assert error_of(response)["details"][0]["reason"] == "API_KEY_INVALID"


def test_unknown_model_is_404(http: httpx.Client) -> None:
    response = http.post("/v1beta/models/gemini-9:generateContent", json=body())
    assert (response.status_code, error_of(response)["status"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        (body(generation_config={"temperature": 1}), 'Unknown name "generation_config"'),
        (body(generationConfig={"max_output_tokens": 5}), 'Unknown name "max_output_tokens"'),
        (body(generationConfig={"temperature": 2.5}), "temperature"),
        (body(generationConfig={"topP": 1.5}), "topP"),
        (body(generationConfig={"stopSequences": ["a"] * 6}), "at most 5"),
        (body(generationConfig={"responseJsonSchema": {"type": "object"}}), "response_mime_type"),
        (body(unknownField=1), 'Unknown name "unknownField"'),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "x"}]},
                    {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                    {"role": "user", "parts": [{"functionResponse": {"response": {"a": 1}}}]},
                ]
            },
            "Name cannot be empty",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "x"}]},
                    {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                    {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": "text"}}]},
                ]
            },
            "protobuf.Struct",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "number of function response parts",
        ),
        (
            body(tools=[{"functionDeclarations": [{"name": "f"}]}], toolConfig={
                "functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}),
            "only be set when the Mode is ANY",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "!!"}}]}]},
            "Base64 decoding failed",
        ),
        (
            {"contents": [{"parts": [{"fileData": {"fileUri": "https://example.com/cat.png"}}]}]},
            "Unsupported file uri",
        ),
    ],
)  # fmt: skip
def test_invalid_bodies_are_rejected(http: httpx.Client, payload: dict[str, Any], needle: str) -> None:
    response = http.post(GENERATE, json=payload)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert needle in error["message"]


def test_valid_tool_round_trip_body_is_accepted(http: httpx.Client) -> None:
    payload = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 3}}}]},
        ],
        "tools": [
            {"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {"type": "object"}}]}
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.5,
            "topK": 3,
            "seed": 1,
            "stopSequences": ["x"],
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
        },
    }
    response = http.post(GENERATE, json=payload)
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "You said: weather?"


# --- knobs -------------------------------------------------------------------------------------


def test_forced_rate_limit_carries_retry_info(sim: GeminiSimulator, http: httpx.Client) -> None:
    sim.behaviour = Behaviour(status=429, retry_after="7")
    response = http.post(GENERATE, json=body())
    error = error_of(response)
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"} in error["details"]
    assert "retry-after" not in response.headers


def test_error_in_stream_is_an_error_event(sim: GeminiSimulator, http: httpx.Client) -> None:
    sim.behaviour = Behaviour(stream_error_after=2, error_type="UNAVAILABLE", error_message="overloaded")
    events = sse_payloads(http.post(STREAM, params={"alt": "sse"}, json=body("a b c")))
    assert len(events) == 3
    assert events[-1] == {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}


def test_cut_stream_has_no_finish_reason(sim: GeminiSimulator, http: httpx.Client) -> None:
    sim.behaviour = Behaviour(cut_after=2)
    events = sse_payloads(http.post(STREAM, params={"alt": "sse"}, json=body("a b c")))
    assert len(events) == 2
    assert all("finishReason" not in e["candidates"][0] for e in events)


def test_framing_knobs(sim: GeminiSimulator, http: httpx.Client) -> None:
    sim.behaviour = Behaviour(crlf=True, comments=True, split_writes=True)
    response = http.post(STREAM, params={"alt": "sse"}, json=body("a"))
    assert "\r\n\r\n" in response.text and ": ping" in response.text
    assert sse_payloads(response)[-1]["candidates"][0]["finishReason"] == "STOP"


def test_raw_body_and_finish_reason_knobs(sim: GeminiSimulator, http: httpx.Client) -> None:
    sim.enqueue(Behaviour(raw_body=b"not json", content_type="text/plain"), Behaviour(finish_reason="SAFETY"))
    first = http.post(GENERATE, json=body())
    assert (first.text, first.headers["content-type"]) == ("not json", "text/plain")
    assert http.post(GENERATE, json=body()).json()["candidates"][0]["finishReason"] == "SAFETY"


def test_requests_are_recorded(sim: GeminiSimulator, http: httpx.Client) -> None:
    http.post(GENERATE, json=body())
    recorded = sim.requests[-1]
    assert recorded.headers["x-goog-api-key"] == DEFAULT_API_KEY
    assert recorded.body == body()


def test_standalone_entry_point() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.upstreams.gemini", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        base = line.split()[-1]
        assert httpx.get(base + "/v1beta/models", headers=HEADERS, timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
