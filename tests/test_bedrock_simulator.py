"""Tests of the Bedrock Converse simulator itself, over real HTTP with httpx and botocore's signer."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from unittest import mock
from urllib.parse import quote

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, EventStreamMessage

from tests.upstreams.bedrock import BedrockSimulator, Behaviour, encode_frame

REPO = Path(__file__).resolve().parent.parent
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
NOVA = "amazon.nova-lite-v1:0"
KEY_ID, SECRET, REGION = "AKIDSIMULATOR", "sim-secret", "us-east-1"


@pytest.fixture(scope="module")
def server() -> Iterator[BedrockSimulator]:
    with BedrockSimulator() as simulator:
        yield simulator


@pytest.fixture
def sim(server: BedrockSimulator) -> Iterator[BedrockSimulator]:
    server.reset()
    yield server
    server.reset()


def signed(
    sim: BedrockSimulator,
    body: dict[str, Any] | bytes,
    *,
    model: str = CLAUDE,
    action: str = "converse",
    key_id: str = KEY_ID,
    secret: str = SECRET,
    region: str = REGION,
    service: str = "bedrock",
    encode_path: bool = True,
) -> tuple[str, bytes, dict[str, str]]:
    """(url, body, headers) signed with botocore the way an AWS SDK signs them."""
    model_path = quote(model, safe="") if encode_path else model
    url = f"{sim.base_url}/model/{model_path}/{action}"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = AWSRequest("POST", url, data=raw, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    return url, raw, dict(request.headers.items())


def post(sim: BedrockSimulator, body: dict[str, Any] | bytes, **options: Any) -> httpx.Response:
    url, raw, headers = signed(sim, body, **options)
    return httpx.post(url, content=raw, headers=headers, timeout=5)


def conversation(*texts: str) -> dict[str, Any]:
    roles = ["user", "assistant"]
    return {"messages": [{"role": roles[i % 2], "content": [{"text": text}]} for i, text in enumerate(texts)]}


def decode(raw: bytes) -> list[EventStreamMessage]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return list(buffer)


def headers_of(message: EventStreamMessage) -> dict[str, Any]:
    # botocore-stubs declare `headers` as int; botocore fills it with the decoded header dict.
    return cast(dict[str, Any], message.headers)


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    return [(str(headers_of(m)[":event-type"]), json.loads(m.payload)) for m in decode(raw)]


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return (
        response.status_code,
        response.headers["x-amzn-errortype"].split(":", 1)[0],
        body.get("message") or body.get("Message"),
    )


# --- event-stream framing ----------------------------------------------------------------------


def test_encoder_frames_decode_with_botocore() -> None:
    headers = {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    frames = encode_frame(headers, b'{"a":1}') + encode_frame({":message-type": "event"}, b"")
    first, second = decode(frames)
    assert headers_of(first) == headers
    assert first.payload == b'{"a":1}'
    assert (headers_of(second), second.payload) == ({":message-type": "event"}, b"")


def test_encoder_crc_is_checked_by_botocore() -> None:
    frame = bytearray(encode_frame({":message-type": "event"}, b"payload"))
    frame[-6] ^= 0xFF  # flip a payload byte
    with pytest.raises(ChecksumMismatch):
        decode(bytes(frame))


# --- happy paths -------------------------------------------------------------------------------


def test_converse_answers_with_usage_and_request_id(sim: BedrockSimulator) -> None:
    body = {**conversation("hello there"), "system": [{"text": "Be brief."}]}
    response = post(sim, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-amzn-requestid"]
    payload = response.json()
    assert payload["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "You said: hello there"}],
    }
    assert payload["stopReason"] == "end_turn"
    assert payload["usage"] == {"inputTokens": 4, "outputTokens": 4, "totalTokens": 8}
    assert "latencyMs" in payload["metrics"]
    assert sim.requests[-1].path == f"/model/{CLAUDE}/converse"


def test_converse_stream_frames(sim: BedrockSimulator) -> None:
    response = post(sim, conversation("one two"), action="converse-stream")
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    received = events(response.content)
    names = [name for name, _ in received]
    assert names[0] == "messageStart" and names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(p["delta"]["text"] for n, p in received if n == "contentBlockDelta")
    assert text == "You said: one two"
    assert all("p" in payload for _, payload in received), "payloads carry Bedrock's padding field"
    assert received[-2][1]["stopReason"] == "end_turn"
    assert received[-1][1]["usage"]["outputTokens"] == 4


def test_split_writes_split_binary_frames(sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(split_writes=True)
    url, raw, headers = signed(sim, conversation("a b c"), action="converse-stream")
    reads: list[bytes] = []
    with httpx.stream("POST", url, content=raw, headers=headers, timeout=5) as response:
        reads.extend(response.iter_raw())
    assert len(reads) > len(events(b"".join(reads))), "frames arrived in pieces"
    assert events(b"".join(reads))[-1][0] == "metadata"


def test_tool_calls_unary_and_streamed(sim: BedrockSimulator) -> None:
    tools = {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]}
    sim.behaviour = Behaviour(tool_calls=[("f", '{"city": "Paris"}')])
    body = {**conversation("go"), "toolConfig": tools}
    unary = post(sim, body).json()
    [block] = unary["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "f" and block["toolUse"]["input"] == {"city": "Paris"}
    assert unary["stopReason"] == "tool_use"
    received = events(post(sim, body, action="converse-stream").content)
    starts = [p for n, p in received if n == "contentBlockStart"]
    assert starts[0]["start"]["toolUse"]["name"] == "f"
    pieces = [p["delta"]["toolUse"]["input"] for n, p in received if n == "contentBlockDelta"]
    assert len(pieces) > 1 and json.loads("".join(pieces)) == {"city": "Paris"}


def test_max_tokens_truncates(sim: BedrockSimulator) -> None:
    payload = post(sim, {**conversation("a b c d e"), "inferenceConfig": {"maxTokens": 2}}).json()
    assert payload["stopReason"] == "max_tokens"
    assert payload["output"]["message"]["content"][0]["text"] == "You said:"


def test_native_fields_and_output_config_accepted(sim: BedrockSimulator) -> None:
    schema = json.dumps({"type": "object"})
    output = {
        "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": schema, "name": "r"}}}
    }
    body = {**conversation("hi"), "additionalModelRequestFields": {"top_k": 5}, "outputConfig": output}
    assert post(sim, body).status_code == 200
    nova = {**conversation("hi"), "additionalModelRequestFields": {"inferenceConfig": {"topK": 5}}}
    assert post(sim, nova, model=NOVA).status_code == 200


# --- SigV4 -------------------------------------------------------------------------------------


def test_wrong_secret_is_an_invalid_signature(sim: BedrockSimulator) -> None:
    status, kind, message = error_of(post(sim, conversation("hi"), secret="not-the-secret"))
    assert (status, kind) == (403, "InvalidSignatureException")
    assert "signature we calculated does not match" in message


def test_unknown_access_key_is_unrecognized(sim: BedrockSimulator) -> None:
    assert error_of(post(sim, conversation("hi"), key_id="AKIDOTHER"))[:2] == (
        403,
        "UnrecognizedClientException",
    )


def test_missing_signature(sim: BedrockSimulator) -> None:
    url = f"{sim.base_url}/model/{quote(CLAUDE, safe='')}/converse"
    response = httpx.post(url, json=conversation("hi"), timeout=5)
    assert error_of(response)[:2] == (403, "MissingAuthenticationTokenException")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [({"region": "eu-west-1"}, "valid region"), ({"service": "s3"}, "correct service")],
)
def test_wrong_scope(sim: BedrockSimulator, options: dict[str, str], fragment: str) -> None:
    status, kind, message = error_of(post(sim, conversation("hi"), **options))
    assert (status, kind) == (403, "InvalidSignatureException")
    assert fragment in message


def test_tampered_body_fails_the_signature(sim: BedrockSimulator) -> None:
    url, _, headers = signed(sim, conversation("hi"))
    response = httpx.post(url, content=json.dumps(conversation("bye")).encode(), headers=headers, timeout=5)
    assert error_of(response)[:2] == (403, "InvalidSignatureException")


def test_signature_must_cover_the_encoded_path(sim: BedrockSimulator) -> None:
    # Signed over the raw ':' but sent percent-encoded: the canonical paths differ.
    url, raw, headers = signed(sim, conversation("hi"), encode_path=False)
    encoded = url.replace(CLAUDE, quote(CLAUDE, safe=""))
    assert (
        error_of(httpx.post(encoded, content=raw, headers=headers, timeout=5))[1]
        == "InvalidSignatureException"
    )


def test_expired_signature(sim: BedrockSimulator) -> None:
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=old.replace(tzinfo=None)):
        url, raw, headers = signed(sim, conversation("hi"))
    status, kind, message = error_of(httpx.post(url, content=raw, headers=headers, timeout=5))
    assert (status, kind) == (403, "InvalidSignatureException")
    assert message.startswith("Signature expired")


# --- validation --------------------------------------------------------------------------------


TOOLS = {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]}
TOOL_TURNS = [
    {"role": "user", "content": [{"text": "go"}]},
    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
]


@pytest.mark.parametrize(
    ("body", "model", "status", "fragment"),
    [
        ({**conversation("hi"), "temperature": 0.5}, CLAUDE, 400, "extraneous key [temperature]"),
        ({**conversation("hi"), "inferenceConfig": {"topK": 3}}, CLAUDE, 400, "extraneous key [topK]"),
        ({**conversation("hi"), "inferenceConfig": {"temperature": 1.5}}, CLAUDE, 400, "less than or equal to 1"),
        ({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}, CLAUDE, 400, "start with a user"),
        ({"messages": [{"role": "system", "content": [{"text": "x"}]}]}, CLAUDE, 400, "enum value set"),
        ({"messages": [{"role": "user", "content": [{"text": "a"}]}] * 2}, CLAUDE, 400, "alternate"),
        ({"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]}, CLAUDE, 400, "exactly one"),
        ({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]}]},
         CLAUDE, 400, "enum value set"),
        ({"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "@@"}}}]}]},
         CLAUDE, 400, "base64"),
        ({"messages": TOOL_TURNS}, CLAUDE, 400, "toolConfig field must be defined"),
        ({"messages": [*TOOL_TURNS, {"role": "user", "content": [
            {"toolResult": {"toolUseId": "t2", "content": [{"text": "r"}]}}]}], "toolConfig": TOOLS},
         CLAUDE, 400, "Expected toolResult blocks"),
        ({**conversation("hi"), "toolConfig": {**TOOLS, "toolChoice": {"any": {}}}}, LLAMA, 400,
         "doesn't support the toolConfig.toolChoice.any"),
        ({**conversation("hi"), "additionalModelRequestFields": {"top_k": 3}}, LLAMA, 400, "extraneous key [top_k]"),
        (conversation("hi"), "anthropic.claude-9-v1:0", 404, "Could not resolve the foundation model"),
    ],
)  # fmt: skip
def test_rejections(
    sim: BedrockSimulator, body: dict[str, Any], model: str, status: int, fragment: str
) -> None:
    got_status, kind, message = error_of(post(sim, body, model=model))
    assert got_status == status
    assert kind == ("ValidationException" if status == 400 else "ResourceNotFoundException")
    assert fragment in message


def test_tool_result_round_trip_is_accepted(sim: BedrockSimulator) -> None:
    result = {
        "toolResult": {"toolUseId": "t1", "content": [{"text": "r"}, {"json": {"k": 1}}], "status": "error"}
    }
    body = {"messages": [*TOOL_TURNS, {"role": "user", "content": [result]}], "toolConfig": TOOLS}
    assert post(sim, body).status_code == 200


def test_malformed_json_is_a_serialization_error(sim: BedrockSimulator) -> None:
    assert error_of(post(sim, b"{not json"))[:2] == (400, "SerializationException")


# --- knobs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "ValidationException"), (403, "AccessDeniedException"), (404, "ResourceNotFoundException"),
     (408, "ModelTimeoutException"), (424, "ModelErrorException"), (429, "ThrottlingException"),
     (500, "InternalServerException"), (503, "ServiceUnavailableException")],
)  # fmt: skip
def test_forced_errors_use_bedrock_exceptions(sim: BedrockSimulator, status: int, kind: str) -> None:
    sim.behaviour = Behaviour(status=status, retry_after="3", error_message="boom")
    response = post(sim, conversation("hi"))
    assert error_of(response) == (status, kind, "boom")
    assert response.headers["retry-after"] == "3"


def test_error_type_override(sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(status=429, error_type="ModelNotReadyException")
    assert error_of(post(sim, conversation("hi")))[1] == "ModelNotReadyException"


def test_stream_error_after_sends_an_exception_frame(sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(
        stream_error_after=1, error_type="ThrottlingException", error_message="slow down"
    )
    messages = decode(post(sim, conversation("a b c"), action="converse-stream").content)
    last = messages[-1]
    assert headers_of(last)[":message-type"] == "exception"
    assert headers_of(last)[":exception-type"] == "throttlingException"
    assert json.loads(last.payload) == {"message": "slow down"}
    assert [headers_of(m)[":event-type"] for m in messages[:-1]] == ["messageStart", "contentBlockDelta"]


def test_cut_after_ends_without_message_stop(sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=2)
    names = [name for name, _ in events(post(sim, conversation("a b c"), action="converse-stream").content)]
    assert names == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


def test_cut_after_the_whole_reply_keeps_the_stop_but_not_the_metadata(sim: BedrockSimulator) -> None:
    sim.behaviour = Behaviour(cut_after=99)
    names = [name for name, _ in events(post(sim, conversation("a"), action="converse-stream").content)]
    assert names[-1] == "messageStop"


def test_raw_body_and_reply_text(sim: BedrockSimulator) -> None:
    sim.enqueue(Behaviour(raw_body=b"{oops", content_type="text/plain"), Behaviour(reply_text="Fixed."))
    first = post(sim, conversation("hi"))
    assert (first.content, first.headers["content-type"]) == (b"{oops", "text/plain")
    assert post(sim, conversation("hi")).json()["output"]["message"]["content"][0]["text"] == "Fixed."


def test_unknown_operation(sim: BedrockSimulator) -> None:
    response = httpx.get(f"{sim.base_url}/foundation-models", timeout=5)
    assert response.status_code == 404


def test_standalone_entry_point() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.upstreams.bedrock", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
    finally:
        process.terminate()
        process.wait(timeout=10)
