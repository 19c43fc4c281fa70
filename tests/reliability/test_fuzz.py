"""Property-based fuzzing (hypothesis) through real gRPC.

Requests: random ChatRequests — roles and modes outside their enums, huge and empty strings, deep
part lists, NaN and infinite settings, enormous max tokens, empty and duplicate tool names, JSON
schemas that are no schema, arbitrary bytes as media data — plus raw random bytes and invalid UTF-8
in place of a serialized request, against an echo-provider gateway. Every call ends with a
documented status (with ErrorInfo when not OK), never INTERNAL or UNKNOWN, within its timeout.

Upstream responses: random, and truncated well-formed, provider JSON, SSE, NDJSON and AWS
event-stream bodies served by each provider's simulator (the raw_body knob): only documented
upstream statuses come back.

Examples are bounded and derandomized (FUZZ_EXAMPLES per property) so CI time stays small;
LLMGW_FUZZ_EXAMPLES raises it for a longer local run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from typing import Any, cast

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2, status_pb2
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2
from tests.conformance.harness import HARNESSES
from tests.conftest import ECHO_CONFIG
from tests.reliability.gateway_thread import GatewayThread
from tests.upstreams.base import Behaviour, SimulatorServer, compact_json
from tests.upstreams.bedrock import encode_frame, event_frame

FUZZ_EXAMPLES = int(os.environ.get("LLMGW_FUZZ_EXAMPLES", "150"))
CALL_TIMEOUT = 10.0
# Huge strings make hypothesis warn about the size of an example's repr; that is the point.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}
# The documented answers to a request of the caller's own making (README "Errors").
REQUEST_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
REQUEST_REASONS = {
    "INVALID_REQUEST",
    "MODEL_NOT_FOUND",
    "UNSUPPORTED_CAPABILITY",
    "NO_CAPABLE_DEPLOYMENT",
    "REQUEST_TOO_LARGE",
}
# The documented answers to an upstream that misbehaves.
UPSTREAM_REASONS = {
    "UPSTREAM_MALFORMED_RESPONSE",
    "UPSTREAM_STREAM_CUT",
    "UPSTREAM_STREAM_ERROR",
    "UPSTREAM_UNAVAILABLE",
    "UPSTREAM_RATE_LIMITED",
    "UPSTREAM_QUOTA_EXHAUSTED",
    "UPSTREAM_REJECTED_REQUEST",
    "UPSTREAM_NOT_FOUND",
    "CONTEXT_LENGTH_EXCEEDED",
    "CONTENT_FILTERED",
    "STREAM_INTERRUPTED",
}


def status_details(error: grpc.RpcError) -> status_pb2.Status:
    """The google.rpc.Status a failed blocking call carries; asserts it is there."""
    call = cast(grpc.Call, error)
    raw = next((v for k, v in call.trailing_metadata() or () if k == "grpc-status-details-bin"), None)
    assert isinstance(raw, bytes), f"{call.code()} without status details: {call.details()}"
    return status_pb2.Status.FromString(raw)


def details(error: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    """The code and the ErrorInfo reason of a failed call; asserts the rich status is there."""
    code = cast(grpc.Call, error).code()
    for packed in status_details(error).details:
        info = error_details_pb2.ErrorInfo()
        if packed.Unpack(info):
            assert info.domain == "llmgateway"
            return code, info.reason
    raise AssertionError(f"{code} without ErrorInfo")


# --- request strategies ------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=40),
    st.just(""),
    st.integers(100_000, 400_000).map(lambda n: "x" * n),  # huge, without a huge repr
    st.sampled_from(["\x00", "\ud7ff", "🦜" * 50]),
)
# Messages the gateway accepts, so that half the requests get past validation to the settings.
valid_messages = st.builds(
    lambda role, text: content_pb2.Message(role=role, parts=[content_pb2.Part(text=text)]),
    st.sampled_from([content_pb2.ROLE_USER, content_pb2.ROLE_SYSTEM, content_pb2.ROLE_ASSISTANT]),
    st.text(min_size=1, max_size=30),
).filter(lambda m: m.parts[0].text.strip() != "")
names = st.one_of(
    st.sampled_from(["", "t", "t", "get_weather", "bad name!", "a" * 200]), st.text(max_size=10)
)
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
schema_dicts = st.one_of(
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    st.sampled_from(
        [
            {"type": 5},
            {"type": "object", "properties": []},
            {"$ref": "#/nowhere"},
            {"type": "object", "required": "x"},
            {"enum": []},
            {"type": "object", "properties": {"a": {"type": "integer", "minimum": "z"}}},
        ]
    ),
)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


floats = st.one_of(st.floats(width=32), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 3.0e38]))
int32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 2**31 - 1]))


def leaf_parts() -> st.SearchStrategy[content_pb2.Part]:
    return st.one_of(
        texts.map(lambda t: content_pb2.Part(text=t)),
        st.builds(
            lambda mime, data: content_pb2.Part(media=content_pb2.Media(mime_type=mime, data=data)),
            st.sampled_from(["image/png", "", "text/plain", "image/\x01"]),
            st.binary(max_size=64) | st.just(b"\xff\xfe\x80 invalid utf-8 \xc3\x28"),
        ),
        st.builds(
            lambda mime, uri: content_pb2.Part(media=content_pb2.Media(mime_type=mime, uri=uri)),
            st.sampled_from(["image/png", ""]),
            st.sampled_from(["", "data:image/png;base64,@@", "file:///etc/passwd", "https://127.0.0.1/x"]),
        ),
        st.builds(
            lambda i, n, a: content_pb2.Part(tool_call=content_pb2.ToolCall(id=i, name=n, arguments_json=a)),
            texts,
            names,
            st.one_of(texts, st.just("{not json"), json_values.map(json.dumps)),
        ),
        texts.map(lambda t: content_pb2.Part(reasoning=content_pb2.Reasoning(text=t))),
    )


parts = st.recursive(
    leaf_parts(),
    lambda children: st.builds(
        lambda call_id, content, is_error: content_pb2.Part(
            tool_result=content_pb2.ToolResult(tool_call_id=call_id, content=content, is_error=is_error)
        ),
        texts,
        st.lists(children, max_size=3),
        st.booleans(),
    ),
    max_leaves=8,
)
messages = st.builds(
    lambda role, ps, name: content_pb2.Message(role=role, parts=ps, name=name),
    st.integers(-5, 12),  # ROLE_* and values outside the enum
    st.lists(parts, max_size=4),
    st.one_of(st.just(""), names),
)
tools = st.builds(
    lambda name, description, schema: content_pb2.Tool(name=name, description=description, parameters=schema),
    names,
    texts,
    schema_dicts.map(struct),
)


@st.composite
def generation_configs(draw: st.DrawFn) -> chat_pb2.GenerationConfig:
    config = chat_pb2.GenerationConfig()
    for name, values in [
        ("max_output_tokens", int32),
        ("temperature", floats),
        ("top_p", floats),
        ("top_k", int32),
        ("seed", st.integers(-(2**63), 2**63 - 1)),
        ("presence_penalty", floats),
        ("frequency_penalty", floats),
    ]:
        if draw(st.booleans()):
            setattr(config, name, draw(values))
    config.stop_sequences.extend(draw(st.lists(texts, max_size=6)))
    if draw(st.booleans()):
        config.response_json_schema.CopyFrom(struct(draw(schema_dicts)))
        config.response_json_schema_name = draw(names)
    return config


@st.composite
def near_valid_requests(draw: st.DrawFn) -> chat_pb2.ChatRequest:
    """A request the gateway accepts, with one thing pushed to an extreme: so the settings,
    tools and labels reach the router and the provider, not just validation."""
    request = chat_pb2.ChatRequest(
        model="echo", messages=[*draw(st.lists(valid_messages, max_size=2)), content_pb2.Message(
            role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=draw(st.text(min_size=1, max_size=20)) + "x")]
        )],
    )  # fmt: skip
    feature = draw(st.sampled_from(["none", "setting", "stops", "tools", "choice", "labels", "request_id"]))
    if feature == "setting":
        name, values = draw(st.sampled_from([
            ("max_output_tokens", int32), ("temperature", floats), ("top_p", floats), ("top_k", int32),
            ("seed", st.integers(-(2**63), 2**63 - 1)), ("presence_penalty", floats),
            ("frequency_penalty", floats),
        ]))  # fmt: skip
        setattr(request.generation_config, name, draw(values))
    elif feature == "stops":
        request.generation_config.stop_sequences.extend(draw(st.lists(texts, max_size=8)))
    elif feature == "tools":
        request.tools.extend(draw(st.lists(tools, min_size=1, max_size=3)))
    elif feature == "choice":
        request.tool_choice.mode = draw(st.integers(-2, 8))  # type: ignore[assignment]
        request.tool_choice.tool_name = draw(names)
    elif feature == "labels":
        request.labels.update(draw(st.dictionaries(texts, texts, max_size=3)))
    elif feature == "request_id":
        request.request_id = draw(texts)
    return request


def chat_requests() -> st.SearchStrategy[chat_pb2.ChatRequest]:
    return st.one_of(wild_requests(), near_valid_requests())


@st.composite
def wild_requests(draw: st.DrawFn) -> chat_pb2.ChatRequest:
    request = chat_pb2.ChatRequest(
        model=draw(st.sampled_from(["echo", "echo", "echo", "parrot", "", "nope", "e*"])),
        messages=draw(
            st.lists(messages, max_size=5)
            | st.lists(valid_messages, min_size=1, max_size=3).map(
                lambda ms: [
                    *ms,
                    content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text="hi")]),
                ]
            )
        ),
        tools=draw(st.lists(tools, max_size=3) | st.just([])),
        request_id=draw(st.one_of(st.just(""), texts)),
        labels=draw(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)),
    )
    if draw(st.booleans()):
        request.generation_config.CopyFrom(draw(generation_configs()))
    if draw(st.booleans()):
        request.tool_choice.mode = draw(st.integers(-2, 8))  # type: ignore[assignment]
        request.tool_choice.tool_name = draw(names)
    return request


# --- the echo gateway ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_channel() -> Iterator[grpc.Channel]:
    with GatewayThread(ECHO_CONFIG) as gateway, grpc.insecure_channel(gateway.address) as channel:
        yield channel


def outcome(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, str]:
    """(code, ErrorInfo reason, message) of a blocking call; OK has no reason."""
    try:
        call()
    except grpc.RpcError as error:
        code, reason = details(error)
        return code, reason, str(cast(grpc.Call, error).details())
    return grpc.StatusCode.OK, "", ""


def check_request_outcome(call: Callable[[], object]) -> None:
    code, reason, message = outcome(call)
    event(f"{code.name} {reason}".strip())
    assert code not in NEVER, (code, reason, message)
    assert code in REQUEST_CODES, (code, reason, message)
    assert code == grpc.StatusCode.OK or reason in REQUEST_REASONS, (code, reason, message)


@FUZZ_SETTINGS
@given(request=chat_requests())
def test_fuzz_chat_requests(echo_channel: grpc.Channel, request: chat_pb2.ChatRequest) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(echo_channel)
    check_request_outcome(lambda: stub.Chat(request, timeout=CALL_TIMEOUT))


@FUZZ_SETTINGS
@given(request=chat_requests())
def test_fuzz_stream_requests(echo_channel: grpc.Channel, request: chat_pb2.ChatRequest) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(echo_channel)
    stream_request = chat_pb2.ChatStreamRequest.FromString(request.SerializeToString())
    check_request_outcome(lambda: list(stub.ChatStream(stream_request, timeout=CALL_TIMEOUT)))


MARKER = "\u00e9\u00e9\u00e9\u00e9"  # 8 bytes in UTF-8, replaced by 8 bytes that are not UTF-8


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "mutated", "invalid_utf8"]))
    if kind == "random":
        return draw(st.binary(max_size=512))
    request = draw(chat_requests())
    if kind == "invalid_utf8":
        request.messages.append(
            content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=MARKER)])
        )
        return request.SerializeToString().replace(
            MARKER.encode(),
            draw(st.sampled_from([b"\xff" * 8, b"\xc3\x28" * 4, b"\xed\xa0\x80" * 2 + b"\x80\x80"])),
        )
    data = bytearray(request.SerializeToString())
    for _ in range(draw(st.integers(1, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@FUZZ_SETTINGS
@given(data=raw_requests(), stream=st.booleans())
def test_fuzz_raw_request_bytes(echo_channel: grpc.Channel, data: bytes, stream: bool) -> None:
    # No serializers: the bytes go on the wire as they are.
    if stream:
        method: Any = echo_channel.unary_stream("/llmgateway.v1.ChatService/ChatStream")
        check_request_outcome(lambda: list(method(data, timeout=CALL_TIMEOUT)))
    else:
        unary: Any = echo_channel.unary_unary("/llmgateway.v1.ChatService/Chat")
        check_request_outcome(lambda: unary(data, timeout=CALL_TIMEOUT))


def test_invalid_utf8_is_unparsable(echo_channel: grpc.Channel) -> None:
    """The documented answer for bytes that do not parse: INVALID_ARGUMENT, BadRequest UNPARSABLE."""
    request = chat_pb2.ChatRequest(
        model="echo",
        messages=[content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=MARKER)])],
    )
    data = request.SerializeToString().replace(MARKER.encode(), b"\xff" * 8)
    unary: Any = echo_channel.unary_unary("/llmgateway.v1.ChatService/Chat")
    with pytest.raises(grpc.RpcError) as failure:
        unary(data, timeout=CALL_TIMEOUT)
    assert details(failure.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")
    violations = []
    for packed in status_details(failure.value).details:
        bad_request = error_details_pb2.BadRequest()
        if packed.Unpack(bad_request):
            violations += [v.reason for v in bad_request.field_violations]
    assert violations == ["UNPARSABLE"]


# --- upstream responses -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream_gateway() -> Iterator[tuple[grpc.Channel, dict[str, SimulatorServer]]]:
    """All eight simulators behind one gateway: model `m-<key>` per provider; no retries and a
    breaker that never opens, so every example reaches its simulator."""
    sims = {key: harness.simulator().start() for key, harness in HARNESSES.items()}
    providers: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    for key, harness in HARNESSES.items():
        config = harness.config(
            sims[key].base_url,
            timeouts={"connect_s": 2, "first_token_s": 2, "between_tokens_s": 2, "total_s": 4},
        )
        providers += config["providers"]
        models.append({"name": f"m-{key}", "deployments": config["models"][0]["deployments"]})
    config = {
        "providers": providers,
        "models": models,
        "routing": {
            "retry": {"max_retries": 0},
            "breaker": {"consecutive_failures": 10**9, "min_calls": 10**9},
        },
    }
    try:
        with GatewayThread(config) as gateway, grpc.insecure_channel(gateway.address) as channel:
            yield channel, sims
    finally:
        for sim in sims.values():
            sim.stop()


def json_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Objects near each protocol's shapes (their keys, wrong types) and random ones."""
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=6), st.floats())
    known = st.sampled_from(
        ["choices", "delta", "content", "message", "type", "text", "candidates", "parts", "done",
         "usage", "finish_reason", "stop_reason", "index", "tool_calls", "function", "error", "output",
         "contentBlockDelta", "messageStop", "metadata", "role", "model", "id", "stopReason"]
    )  # fmt: skip
    return st.recursive(
        st.dictionaries(known | st.text(max_size=4), leaf, max_size=4),
        lambda children: st.dictionaries(
            known, st.one_of(leaf, children, st.lists(children, max_size=2)), max_size=4
        ),
        max_leaves=10,
    )


def frame(key: str, obj: dict[str, Any], index: int) -> bytes:
    if key == "bedrock":
        if index % 3 == 2:
            return encode_frame(
                {":message-type": "event", ":event-type": "messageStop"}, compact_json(obj).encode()
            )
        return event_frame(["contentBlockDelta", "messageStart", "metadata"][index % 3], obj)
    if key == "ollama":
        return compact_json(obj).encode() + b"\n"
    if key == "anthropic":
        return f"event: {obj.get('type', 'content_block_delta')}\ndata: {compact_json(obj)}\n\n".encode()
    return f"data: {compact_json(obj)}\n\n".encode()


STREAM_TYPES = {
    "bedrock": "application/vnd.amazon.eventstream",
    "ollama": "application/x-ndjson",
}


@st.composite
def upstream_bodies(draw: st.DrawFn) -> tuple[str, bool, bytes, str | None]:
    key = draw(st.sampled_from(sorted(HARNESSES)))
    stream = draw(st.booleans())
    how = draw(st.sampled_from(["random", "frames", "json"]))
    if how == "random":
        body = draw(st.binary(max_size=300))
    elif how == "json" or not stream:
        body = json.dumps(draw(json_objects())).encode()
    else:
        body = b"".join(
            frame(key, obj, i) for i, obj in enumerate(draw(st.lists(json_objects(), max_size=5)))
        )
        if key not in ("bedrock", "ollama") and draw(st.booleans()):
            body += b"data: [DONE]\n\n"
    cut = draw(st.integers(0, len(body)))
    if draw(st.booleans()):
        body = body[:cut]
    content_type = STREAM_TYPES.get(key, "text/event-stream") if stream else "application/json"
    return key, stream, body, draw(st.sampled_from([content_type, content_type, "text/html", None]))


@FUZZ_SETTINGS
@given(case=upstream_bodies())
def test_fuzz_upstream_responses(
    upstream_gateway: tuple[grpc.Channel, dict[str, SimulatorServer]],
    case: tuple[str, bool, bytes, str | None],
) -> None:
    channel, sims = upstream_gateway
    key, stream, body, content_type = case
    sims[key].behaviour = Behaviour(raw_body=body, content_type=content_type)
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    request = chat_pb2.ChatRequest(
        model=f"m-{key}",
        messages=[content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text="hi")])],
    )
    stream_request = chat_pb2.ChatStreamRequest.FromString(request.SerializeToString())
    code, reason, message = outcome(
        (lambda: list(stub.ChatStream(stream_request, timeout=CALL_TIMEOUT)))
        if stream
        else (lambda: stub.Chat(request, timeout=CALL_TIMEOUT))
    )
    event(f"{code.name} {reason}".strip())
    assert code not in NEVER, (key, stream, code, reason, message)
    assert code == grpc.StatusCode.OK or reason in UPSTREAM_REASONS, (key, stream, code, reason, message)
