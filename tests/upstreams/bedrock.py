"""A wire-faithful AWS Bedrock Runtime Converse upstream for gateway tests.

`POST /model/{modelId}/converse` answers JSON; `POST /model/{modelId}/converse-stream` answers
`application/vnd.amazon.eventstream` binary frames. Every request must carry a valid SigV4 signature
(service `bedrock`, the simulator's region), which the simulator recomputes with botocore from what it
received: the raw (still percent-encoded) path, the signed headers and the body hash. Bodies are checked
against the Converse shapes in botocore's own service model (unknown members, required members,
unions, enums, ranges), then against the conversation rules the real service enforces.

Standalone use:

    python -m tests.upstreams.bedrock --host 127.0.0.1 --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import datetime
import hmac
import json
import re
import struct
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final
from urllib.parse import unquote

import botocore.session
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import ListShape, Shape, StructureShape

from tests.upstreams import signing
from tests.upstreams.base import (
    Behaviour,
    Exchange,
    RecordedRequest,
    SimulatorServer,
    compact_json,
    forever,
    fragments,
    random_id,
    serve_until_signalled,
    word_chunks,
)
from tests.upstreams.embeddings import (
    COHERE_MODELS,
    TITAN_MODELS,
    EmbeddingRefusedError,
    cohere_embed,
    titan_embed,
)
from tests.upstreams.embeddings import tokens as embedding_tokens
from tests.upstreams.prompt_cache import CacheUse, Piece, PromptCache

__all__ = ["MODELS", "BedrockSimulator", "Behaviour", "RecordedRequest", "encode_frame"]

# Base model ids the simulator serves → the vendor, which decides additionalModelRequestFields.
MODELS: Final[dict[str, str]] = {
    "anthropic.claude-3-5-haiku-20241022-v1:0": "anthropic",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0": "anthropic",
    "anthropic.claude-sonnet-4-20250514-v1:0": "anthropic",
    "anthropic.claude-sonnet-4-5-20250929-v1:0": "anthropic",
    "amazon.nova-lite-v1:0": "amazon",
    "amazon.nova-pro-v1:0": "amazon",
    "meta.llama3-1-8b-instruct-v1:0": "meta",
}
# Native request fields each vendor's models accept through additionalModelRequestFields.
_NATIVE_FIELDS: Final[dict[str, frozenset[str]]] = {
    "anthropic": frozenset({"top_k", "thinking", "anthropic_beta"}),
    "amazon": frozenset({"inferenceConfig"}),
    "meta": frozenset(),
}
# The models that take cachePoint blocks, with the fewest tokens a cache checkpoint needs before it
# (a shorter prefix is accepted and not cached); the others refuse them.
_CACHE_MINIMUM: Final[dict[str, int]] = {
    "anthropic.claude-3-5-haiku-20241022-v1:0": 2048,
    "us.anthropic.claude-3-5-haiku-20241022-v1:0": 2048,
    "anthropic.claude-sonnet-4-20250514-v1:0": 1024,
    "anthropic.claude-sonnet-4-5-20250929-v1:0": 1024,
    "amazon.nova-lite-v1:0": 1000,
    "amazon.nova-pro-v1:0": 1000,
}
# The models that take the 1-hour cache lifetime (Claude 4.5 and later).
_ONE_HOUR_CACHE: Final = frozenset({"anthropic.claude-sonnet-4-5-20250929-v1:0"})
_MAX_CACHE_POINTS: Final = 4
_SERVICE: Final = "bedrock"
_ALGORITHM: Final = "AWS4-HMAC-SHA256"
_MAX_CLOCK_SKEW: Final = datetime.timedelta(minutes=5)
_EVENT_STREAM: Final = "application/vnd.amazon.eventstream"
_CORAL: Final = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_CORAL_SERVICE: Final = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_FIRST_MESSAGE_USER: Final = (
    "A conversation must start with a user message. "
    "Try again with a conversation that starts with a user message."
)
_PATH: Final = re.compile(
    r"^/model/(?P<model>[^/]+)/(?P<action>converse|converse-stream|invoke|count-tokens)$"
)
# A Behaviour.status with no error_type gets the exception Bedrock sends with that status.
_DEFAULT_ERRORS: Final[dict[int, str]] = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_STREAM_EXCEPTIONS: Final[dict[str, str]] = {
    "ThrottlingException": "throttlingException",
    "ValidationException": "validationException",
    "InternalServerException": "internalServerException",
    "ServiceUnavailableException": "serviceUnavailableException",
    "ModelStreamErrorException": "modelStreamErrorException",
}


# --------------------------------------------------------------------------------------------------------
# Event-stream framing


def _encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        # Header value type 7 is "string": u16 length + UTF-8 bytes.
        out += struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", 7, len(raw_value)) + raw_value
    return bytes(out)


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message. botocore only decodes this format (its SDK never sends one),
    so the simulator carries this small encoder; the simulator tests prove it against botocore's
    EventStreamBuffer.

    Layout: total length (u32), headers length (u32), CRC32 of those 8 bytes, headers, payload,
    CRC32 of everything before it.
    """
    encoded_headers = _encode_headers(headers)
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded_headers))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    message = prelude + encoded_headers + payload
    return message + struct.pack("!I", binascii.crc32(message))


def _padding(length: int) -> str:
    # Bedrock pads event payloads with a "p" field of varying length so frame sizes do not reveal
    # token lengths; clients must ignore it.
    return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[: max(1, length % 40)]


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    body = {**payload, "p": _padding(len(compact_json(payload)))}
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, compact_json(body).encode())


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, compact_json({"message": message}).encode())


# --------------------------------------------------------------------------------------------------------
# Errors


class _ApiError(Exception):
    def __init__(self, status: int, error_type: str, message: str, namespace: str = _CORAL) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.namespace = namespace


def _validation(message: str) -> _ApiError:
    return _ApiError(400, "ValidationException", message)


def _signature_error(message: str) -> _ApiError:
    return _ApiError(403, "InvalidSignatureException", message, _CORAL_SERVICE)


# --------------------------------------------------------------------------------------------------------
# SigV4


@dataclass(frozen=True)
class _Authorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str


def _parse_authorization(header: str) -> _Authorization:
    if not header:
        raise _ApiError(
            403, "MissingAuthenticationTokenException", "Missing Authentication Token", _CORAL_SERVICE
        )
    algorithm, _, rest = header.partition(" ")
    if algorithm != _ALGORITHM:
        raise _ApiError(
            403, "IncompleteSignatureException", f"Unsupported AWS 'algorithm': '{algorithm}'", _CORAL_SERVICE
        )
    fields = dict(item.strip().split("=", 1) for item in rest.split(",") if "=" in item)
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise _ApiError(
            403,
            "IncompleteSignatureException",
            f"Authorization header requires '{missing[0]}' parameter. Authorization={header[:40]}...",
            _CORAL_SERVICE,
        )
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _ApiError(403, "IncompleteSignatureException", "Credential is malformed.", _CORAL_SERVICE)
    return _Authorization(
        scope[0], scope[1], scope[2], scope[3], fields["SignedHeaders"].split(";"), fields["Signature"]
    )


def _check_request_time(amz_date: str, scope_date: str) -> None:
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise _ApiError(
            400, "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'.", _CORAL_SERVICE
        ) from None
    now = datetime.datetime.now(datetime.UTC)
    if abs(now - when) > _MAX_CLOCK_SKEW:
        raise _signature_error(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - _MAX_CLOCK_SKEW).strftime('%Y%m%dT%H%M%SZ')}"
        )
    if scope_date != amz_date[:8]:
        raise _signature_error(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        )


def expected_signature(
    request: web.BaseRequest, raw_body: bytes, auth: _Authorization, secret_key: str, token: str | None
) -> str:
    """The signature AWS would compute for this request: botocore's canonical request built over the
    raw path, the headers the client named in SignedHeaders and the body as received."""
    headers = {name: request.headers.get(name, "") for name in auth.signed_headers}
    url = f"http://{request.headers.get('host', '')}{request.raw_path}"
    aws_request = AWSRequest(method=request.method, url=url, data=raw_body, headers=headers)
    aws_request.context["timestamp"] = request.headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(auth.access_key, secret_key, token), auth.service, auth.region)
    canonical = signer.canonical_request(aws_request)
    return signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)


# --------------------------------------------------------------------------------------------------------
# Shape validation against botocore's service model


@cache
def _input_shape(operation: str) -> StructureShape:
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model(operation).input_shape
    assert isinstance(shape, StructureShape)
    return shape


def _constraint(path: str, value: Any, constraint: str) -> _ApiError:
    shown = json.dumps(value)[:60] if not isinstance(value, (dict, list)) else "..."
    return _validation(
        f"1 validation error detected: Value {shown} at '{path}' failed to satisfy constraint: {constraint}"
    )


def _check_structure(shape: StructureShape, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise _validation(f"Malformed input request: expected an object at '{path or '$'}'")
    members = {
        name: member for name, member in shape.members.items() if member.serialization.get("location") is None
    }
    for key in value:
        if key not in members:
            raise _validation(
                f"Malformed input request: #{('/' + path) if path else ''}: extraneous key [{key}] is not "
                "permitted, please reformat your input and try again."
            )
    for name in shape.required_members:
        if name in members and name not in value:
            raise _constraint(f"{path}.{name}".lstrip("."), None, "Member must not be null")
    if shape.metadata.get("union") and len([k for k, v in value.items() if v is not None]) != 1:
        raise _validation(
            f"Malformed input request: exactly one member of '{path or '$'}' ({shape.name}) must be set"
        )
    for key, item in value.items():
        _check(members[key], item, f"{path}.{key}".lstrip("."))


def _check_scalar(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "string":
        if not isinstance(value, str):
            raise _constraint(path, value, "Member must be a string")
        if "enum" in meta and value not in meta["enum"]:
            raise _constraint(path, value, f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        if len(value) < meta.get("min", 0):
            raise _constraint(path, value, f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            raise _constraint(path, value, f"Member must have length less than or equal to {meta['max']}")
    elif kind in ("integer", "long", "float", "double"):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind in ("integer", "long") and not isinstance(value, int))
        ):
            raise _constraint(path, value, f"Member must be a number of type {kind}")
        if "min" in meta and value < meta["min"]:
            raise _constraint(path, value, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            raise _constraint(path, value, f"Member must have value less than or equal to {meta['max']}")
    elif kind == "boolean" and not isinstance(value, bool):
        raise _constraint(path, value, "Member must be a boolean")
    elif kind == "blob":
        try:
            decoded = base64.b64decode(value, validate=True) if isinstance(value, str) else None
        except binascii.Error:
            decoded = None
        if decoded is None:
            raise _validation(f"Malformed input request: '{path}' is not valid base64")
        if len(decoded) < meta.get("min", 0):
            raise _constraint(path, "", f"Member must have length greater than or equal to {meta['min']}")


def _check(shape: Shape, value: Any, path: str) -> None:
    if value is None:
        return
    if shape.metadata.get("document"):
        return
    if isinstance(shape, StructureShape):
        _check_structure(shape, value, path)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise _constraint(path, value, "Member must be a list")
        if len(value) < shape.metadata.get("min", 0):
            raise _constraint(
                path, value, f"Member must have length greater than or equal to {shape.metadata['min']}"
            )
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}.{index + 1}.member")
    elif shape.type_name == "map":
        if not isinstance(value, dict):
            raise _constraint(path, value, "Member must be a map")
    else:
        _check_scalar(shape, value, path)


# --------------------------------------------------------------------------------------------------------
# Conversation rules


@dataclass
class _ChatRequest:
    model: str
    vendor: str
    max_tokens: int | None
    prompt_words: int
    last_user_text: str
    tools: list[str] = field(default_factory=list)
    thinking_budget: int | None = None  # Claude's extended thinking on, with this budget
    cache_pieces: list[Piece] = field(default_factory=list)


def _text_of(blocks: list[dict[str, Any]]) -> str:
    texts: list[str] = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"])
        elif "toolResult" in block:
            texts.extend(item["text"] for item in block["toolResult"]["content"] if "text" in item)
    return " ".join(texts)


def _check_messages(messages: list[dict[str, Any]]) -> None:
    if not messages:
        raise _validation(_FIRST_MESSAGE_USER)
    for index, message in enumerate(messages):
        role = message["role"]
        if role not in ("user", "assistant"):
            raise _constraint(
                f"messages.{index + 1}.member.role",
                role,
                "Member must satisfy enum value set: [user, assistant]",
            )
        if index == 0 and role != "user":
            raise _validation(_FIRST_MESSAGE_USER)
        if index > 0 and messages[index - 1]["role"] == role:
            raise _validation(
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again."
            )
        if not message["content"]:
            raise _validation(
                f"The content field in the Message object at messages.{index} is empty. Add a ContentBlock "
                "object to the content field and try again."
            )
        for block in message["content"]:
            if role == "assistant" and ("image" in block or "toolResult" in block):
                raise _validation(
                    f"messages.{index}.content: {next(iter(block))} blocks are not allowed in assistant "
                    "messages."
                )
            if role == "user" and ("toolUse" in block or "reasoningContent" in block):
                raise _validation(
                    f"messages.{index}.content: {next(iter(block))} blocks are not allowed in user messages."
                )


def _check_tool_results(messages: list[dict[str, Any]]) -> None:
    pending: list[str] = []
    for index, message in enumerate(messages):
        blocks = message["content"]
        if message["role"] == "assistant":
            pending = [block["toolUse"]["toolUseId"] for block in blocks if "toolUse" in block]
            continue
        results = [block["toolResult"]["toolUseId"] for block in blocks if "toolResult" in block]
        if len(results) > len(pending):
            raise _validation(
                f"The number of toolResult blocks at messages.{index}.content exceeds the number of toolUse "
                "blocks of previous turn."
            )
        if pending and sorted(results) != sorted(pending):
            raise _validation(
                f"Expected toolResult blocks at messages.{index}.content for the following Ids: "
                f"{', '.join(pending)}"
            )
        pending = []


def _check_tools(body: dict[str, Any], vendor: str) -> list[str]:
    config = body.get("toolConfig")
    uses_tools = any("toolUse" in b or "toolResult" in b for m in body["messages"] for b in m["content"])
    if config is None:
        if uses_tools:
            raise _validation(
                "The toolConfig field must be defined when using toolUse and toolResult content blocks."
            )
        return []
    names = [tool["toolSpec"]["name"] for tool in config["tools"] if "toolSpec" in tool]
    if len(set(names)) != len(names):
        raise _validation("The tool names in toolConfig.tools must be unique.")
    for tool in (tool for tool in config["tools"] if "toolSpec" in tool):
        schema = tool["toolSpec"].get("inputSchema", {}).get("json")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise _validation(
                "The value at toolConfig.tools.0.toolSpec.inputSchema.json.type must be object."
            )
    choice = config.get("toolChoice") or {}
    if ("any" in choice or "tool" in choice) and vendor == "meta":
        kind = "any" if "any" in choice else "tool"
        raise _validation(
            f"This model doesn't support the toolConfig.toolChoice.{kind} field. Remove "
            f"toolConfig.toolChoice.{kind} and try again."
        )
    if "tool" in choice and choice["tool"]["name"] not in names:
        raise _validation(
            f"The tool {choice['tool']['name']} in toolConfig.toolChoice.tool is not defined in "
            "toolConfig.tools."
        )
    return names


def _check_native_fields(body: dict[str, Any], vendor: str) -> None:
    native = body.get("additionalModelRequestFields")
    if native is None:
        return
    if not isinstance(native, dict):
        raise _validation(
            "The model returned the following errors: Malformed input request: expected an object."
        )
    for key in native:
        if key not in _NATIVE_FIELDS[vendor]:
            raise _validation(
                "The model returned the following errors: Malformed input request: #: extraneous key "
                f"[{key}] is not permitted, please reformat your input and try again."
            )
    if (
        vendor == "anthropic"
        and "top_k" in native
        and not (isinstance(native["top_k"], int) and native["top_k"] >= 0)
    ):
        raise _validation("The model returned the following errors: top_k: Input should be a valid integer")
    if vendor == "amazon":
        inner = native.get("inferenceConfig", {})
        if not isinstance(inner, dict) or set(inner) - {"topK"}:
            raise _validation(
                "The model returned the following errors: Malformed input request: #/inferenceConfig: "
                "extraneous key is not permitted."
            )


def _model_error(message: str) -> _ApiError:
    """A request the model (not Converse) refused: Bedrock passes Anthropic's message through."""
    return _validation(f"The model returned the following errors: {message}")


def _check_reasoning_blocks(messages: list[dict[str, Any]]) -> None:
    """Claude's reasoning comes back only as it went out: signed text, or redacted content."""
    for index, message in enumerate(messages):
        for position, block in enumerate(message["content"]):
            reasoning = block.get("reasoningContent")
            if reasoning is None:
                continue
            at = f"messages.{index}.content.{position}"
            text = reasoning.get("reasoningText")
            if text is not None and not signing.verifies(
                "bedrock", text.get("text", ""), text.get("signature")
            ):
                raise _model_error(f"{at}: Invalid `signature` in `thinking` block")
            if "redactedContent" in reasoning and not signing.redacted_verifies(
                "bedrock", reasoning["redactedContent"]
            ):
                raise _model_error(f"{at}: Invalid `data` in `redacted_thinking` block")


def _check_thinking(body: dict[str, Any], model: str) -> int | None:
    """The thinking budget when Claude's extended thinking is on, after Anthropic's checks."""
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking")
    if thinking is None or thinking.get("type") == "disabled":
        return None
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int):
        raise _model_error(
            "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'"
        )
    if budget < 1024:
        raise _model_error("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    inference = body.get("inferenceConfig") or {}
    if inference.get("maxTokens", 4096) <= budget:
        raise _model_error("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if "3-5" in model:
        raise _model_error("thinking: This model does not support extended thinking.")
    if inference.get("temperature", 1) != 1:
        raise _model_error("`temperature` may only be set to 1 when thinking is enabled.")
    if "top_k" in body["additionalModelRequestFields"]:
        raise _model_error("`top_k` must be unset when thinking is enabled.")
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    if "any" in choice or "tool" in choice:
        raise _model_error("Thinking may not be enabled when tool_choice forces tool use.")
    messages = body["messages"]
    if (
        len(messages) >= 2
        and messages[-2]["role"] == "assistant"
        and any("toolResult" in block for block in messages[-1]["content"])
        and "reasoningContent" not in messages[-2]["content"][0]
    ):
        kind = next(iter(messages[-2]["content"][0]))
        raise _model_error(
            f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{'tool_use' if kind == 'toolUse' else kind}`. When `thinking` is enabled, a final `assistant` "
            "message must start with a thinking block (preceeding the lastmost set of `tool_use` and "
            "`tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid "
            "this requirement, disable `thinking`."
        )
    return budget


def _block_tokens(block: dict[str, Any]) -> int:
    return len(_text_of([block]).split())


def _cache_pieces(body: dict[str, Any], model: str) -> list[Piece]:
    """The prompt in the order the model caches it (tools, system, messages); a cachePoint block marks
    the end of the block before it. Refuses cache points on models without prompt caching, lifetimes
    the model cannot keep, and more than four points."""
    pieces: list[Piece] = []
    sections = [
        ("tool", (body.get("toolConfig") or {}).get("tools") or []),
        ("system", body.get("system") or []),
        *((message["role"], message["content"]) for message in body["messages"]),
    ]
    points = 0
    for role, blocks in sections:
        for block in blocks:
            point = block.get("cachePoint")
            if point is None:
                pieces.append(Piece(role + ":" + compact_json(block), _block_tokens(block)))
                continue
            points += 1
            if model not in _CACHE_MINIMUM:
                raise _validation(
                    "You invoked an unsupported model or your request did not allow prompt caching. See the "
                    "documentation for more information."
                )
            ttl = point.get("ttl", "5m")
            if ttl == "1h" and model not in _ONE_HOUR_CACHE:
                raise _validation(f"The model {model} doesn't support the 1h cache TTL. Use 5m or omit ttl.")
            if pieces:
                pieces[-1] = Piece(pieces[-1].canonical, pieces[-1].tokens, ttl)
    if points > _MAX_CACHE_POINTS:
        raise _validation(
            "The model returned the following errors: A maximum of 4 blocks with cache_control may be "
            f"provided. Found {points}."
        )
    return pieces


def _check_output_config(body: dict[str, Any]) -> None:
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if text_format is None:
        return
    schema = text_format["structure"].get("jsonSchema", {}).get("schema")
    try:
        parsed = json.loads(schema)
    except (TypeError, ValueError):
        parsed = None
    if not isinstance(parsed, dict):
        raise _validation(
            "The provided JSON schema in outputConfig.textFormat.structure.jsonSchema.schema is not valid "
            "JSON."
        )


def _parsed(operation: str, raw: bytes) -> Any:
    """The body as JSON, checked against the operation's input shape."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise _ApiError(
            400,
            "SerializationException",
            "Start of structure or map found where not expected.",
            _CORAL_SERVICE,
        ) from None
    _check(_input_shape(operation), body, "")
    return body


def _validate(operation: str, model: str, raw: bytes) -> _ChatRequest:
    return _validated_conversation(model, _parsed(operation, raw))


def validate_count(model: str, raw: bytes) -> int:
    """Check a CountTokens body; return the inputTokens Converse would report for the same prompt.
    Only the `converse` member of the input union is simulated."""
    body = _parsed("CountTokens", raw)
    union = body.get("input")
    if not isinstance(union, dict) or len(union) != 1:
        raise _validation(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must not be null"
        )
    if "converse" not in union:
        raise _validation("The simulator counts Converse input only (input.converse).")
    return _validated_conversation(model, union["converse"]).prompt_words


def _validated_conversation(model: str, body: dict[str, Any]) -> _ChatRequest:
    if model not in MODELS:
        raise _ApiError(
            404,
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
        )
    vendor = MODELS[model]
    if "messages" not in body:
        raise _validation(_FIRST_MESSAGE_USER)
    messages: list[dict[str, Any]] = body["messages"]
    _check_messages(messages)
    _check_tool_results(messages)
    tools = _check_tools(body, vendor)
    _check_native_fields(body, vendor)
    _check_reasoning_blocks(messages)
    thinking_budget = _check_thinking(body, model) if vendor == "anthropic" else None
    _check_output_config(body)
    user_texts = [_text_of(m["content"]) for m in messages if m["role"] == "user"]
    system_text = " ".join(block.get("text", "") for block in body.get("system") or [])
    all_text = " ".join([system_text, *(_text_of(m["content"]) for m in messages)])
    return _ChatRequest(
        model=model,
        vendor=vendor,
        max_tokens=(body.get("inferenceConfig") or {}).get("maxTokens"),
        prompt_words=len(all_text.split()),
        last_user_text=next((t for t in reversed(user_texts) if t), ""),
        tools=tools,
        thinking_budget=thinking_budget,
        cache_pieces=_cache_pieces(body, model),
    )


# --------------------------------------------------------------------------------------------------------
# Reply planning


@dataclass
class _ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class _Reply:
    chunks: list[str]
    tool_calls: list[_ToolCall]
    stop_reason: str
    input_tokens: int
    # Claude's reasoning: its text in chunks, or redacted content.
    thinking: list[str] = field(default_factory=list)
    redacted: str | None = None
    # What the prompt cache read and wrote; None when the request set no cache point.
    cache: CacheUse | None = None

    @property
    def output_tokens(self) -> int:
        thinking = len(self.thinking) + (1 if self.redacted is not None else 0)
        return thinking + len(self.chunks) + sum(1 + len(fragments(c.arguments)) for c in self.tool_calls)

    def reasoning_block(self) -> dict[str, Any] | None:
        if self.redacted is not None:
            return {"reasoningContent": {"redactedContent": self.redacted}}
        if not self.thinking:
            return None
        text = "".join(self.thinking)
        return {
            "reasoningContent": {"reasoningText": {"text": text, "signature": signing.sign("bedrock", text)}}
        }

    def usage(self) -> dict[str, Any]:
        if self.cache is None:
            return {
                "inputTokens": self.input_tokens,
                "outputTokens": self.output_tokens,
                "totalTokens": self.input_tokens + self.output_tokens,
            }
        cache = self.cache
        usage: dict[str, Any] = {
            # Converse's inputTokens leaves out what was read from or written to the cache.
            "inputTokens": self.input_tokens - cache.read - cache.written,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.output_tokens,
            "cacheReadInputTokens": cache.read,
            "cacheWriteInputTokens": cache.written,
        }
        details = [("1h", cache.written_1h), ("5m", cache.written_5m)]
        if cache.written:
            usage["cacheDetails"] = [{"ttl": ttl, "inputTokens": n} for ttl, n in details if n]
        return usage


def _plan_reply(chat: _ChatRequest, behaviour: Behaviour) -> _Reply:
    if behaviour.refusal is not None:
        # The model's own content filter removed the answer: an empty message, content_filtered.
        return _Reply([], [], behaviour.finish_reason or "content_filtered", chat.prompt_words)
    calls = [_ToolCall(random_id("tooluse_", 22), name, args) for name, args in behaviour.tool_calls]
    text = behaviour.reply_text
    if text is None and not calls:
        text = "You said: " + chat.last_user_text
    chunks = word_chunks(text) if text else []
    stop = "tool_use" if calls else "end_turn"
    if chat.max_tokens is not None and chat.max_tokens < len(chunks):
        chunks, stop = chunks[: chat.max_tokens], "max_tokens"
    reply = _Reply(chunks, calls, behaviour.finish_reason or stop, chat.prompt_words)
    if chat.thinking_budget is not None:
        thought = signing.thinking_about(chat.last_user_text)
        if signing.REDACTED_TRIGGER in chat.last_user_text:
            reply.redacted = signing.redacted("bedrock", thought)
        else:
            reply.thinking = word_chunks(thought)
    return reply


def _unary_body(reply: _Reply, started: float) -> dict[str, Any]:
    reasoning = reply.reasoning_block()
    content: list[dict[str, Any]] = [reasoning] if reasoning is not None else []
    if reply.chunks:
        content.append({"text": "".join(reply.chunks)})
    content.extend(
        {"toolUse": {"toolUseId": c.id, "name": c.name, "input": json.loads(c.arguments or "{}")}}
        for c in reply.tool_calls
    )
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": reply.stop_reason,
        "usage": reply.usage(),
        "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
    }


def _stream_frames(reply: _Reply, started: float) -> list[bytes]:
    """The stream as a list whose elements are "frames" in the base class's sense: one opening element
    (messageStart), one per reply chunk, messageStop, then metadata. A contentBlockStop rides in the same
    element as the block's last chunk so "after N chunks" counts reply chunks only."""
    frames = [event_frame("messageStart", {"role": "assistant"})]
    block = 0
    reasoning = reply.reasoning_block()
    if reasoning is not None:
        content = reasoning["reasoningContent"]
        if "redactedContent" in content:
            pieces = [{"redactedContent": content["redactedContent"]}]
        else:
            signature = content["reasoningText"]["signature"]
            pieces = [{"text": chunk} for chunk in reply.thinking]
            pieces[-1:] = [pieces[-1], {"signature": signature}]
        for reasoning_piece in pieces:
            reasoning_delta = {"reasoningContent": reasoning_piece}
            frames.append(
                event_frame("contentBlockDelta", {"contentBlockIndex": block, "delta": reasoning_delta})
            )
        frames[-1] += event_frame("contentBlockStop", {"contentBlockIndex": block})
        block += 1
    if reply.chunks:
        for piece in reply.chunks:
            frames.append(
                event_frame("contentBlockDelta", {"contentBlockIndex": block, "delta": {"text": piece}})
            )
        frames[-1] += event_frame("contentBlockStop", {"contentBlockIndex": block})
        block += 1
    for call in reply.tool_calls:
        start = {"toolUse": {"toolUseId": call.id, "name": call.name}}
        frames.append(event_frame("contentBlockStart", {"contentBlockIndex": block, "start": start}))
        for piece in fragments(call.arguments):
            delta = {"toolUse": {"input": piece}}
            frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": block, "delta": delta}))
        frames[-1] += event_frame("contentBlockStop", {"contentBlockIndex": block})
        block += 1
    frames.append(event_frame("messageStop", {"stopReason": reply.stop_reason}))
    metrics = {"latencyMs": int((time.monotonic() - started) * 1000)}
    frames.append(event_frame("metadata", {"usage": reply.usage(), "metrics": metrics}))
    return frames


# --------------------------------------------------------------------------------------------------------
# The server


class BedrockSimulator(SimulatorServer):
    """A Bedrock Runtime (Converse) upstream on 127.0.0.1 (see SimulatorServer for the observables)."""

    name = "bedrock"

    def __init__(
        self,
        access_key_id: str = "AKIDSIMULATOR",
        secret_access_key: str = "sim-secret",
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        *,
        port: int = 0,
        session_token: str | None = None,
    ) -> None:
        super().__init__(None, host, port=port)
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region
        self.session_token = session_token
        # The account's prompt cache: the prefixes cachePoint blocks marked, per model.
        self.prompt_cache = PromptCache()

    def reset(self) -> None:
        super().reset()
        self.prompt_cache.clear()

    def _check_auth(self, request: web.BaseRequest, raw: bytes) -> None:
        auth = _parse_authorization(request.headers.get("authorization", ""))
        if auth.access_key != self.access_key_id:
            raise _ApiError(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                _CORAL_SERVICE,
            )
        token = request.headers.get("x-amz-security-token")
        if self.session_token is not None and token != self.session_token:
            raise _ApiError(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                _CORAL_SERVICE,
            )
        if auth.region != self.region:
            raise _signature_error(f"Credential should be scoped to a valid region, not '{auth.region}'. ")
        if auth.service != _SERVICE:
            raise _signature_error(f"Credential should be scoped to correct service: '{_SERVICE}'. ")
        if "host" not in auth.signed_headers or "x-amz-date" not in auth.signed_headers:
            raise _signature_error("'Host' and 'X-Amz-Date' must be named as SignedHeaders.")
        _check_request_time(request.headers.get("x-amz-date", ""), auth.date)
        expected = expected_signature(request, raw, auth, self.secret_access_key, token)
        if not hmac.compare_digest(expected, auth.signature):
            raise _signature_error(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service documentation for "
                "details."
            )

    def _headers(self, exchange: Exchange, behaviour: Behaviour | None = None) -> dict[str, str]:
        headers = {"x-amzn-RequestId": str(uuid.uuid5(uuid.NAMESPACE_OID, exchange.request_id))}
        if behaviour is not None and behaviour.retry_after is not None:
            headers["Retry-After"] = behaviour.retry_after
        return headers

    async def _send_error(
        self, request: web.BaseRequest, exchange: Exchange, err: _ApiError, behaviour: Behaviour | None = None
    ) -> web.StreamResponse:
        headers = self._headers(exchange, behaviour)
        headers["x-amzn-ErrorType"] = f"{err.error_type}:{err.namespace}"
        payload: dict[str, Any] = {"message": err.message}
        if err.namespace == _CORAL_SERVICE:
            payload = {"Message": err.message}  # the front door capitalises it, the service does not
        return await self.send_json(request, exchange, err.status, payload, headers)

    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        match = _PATH.match(request.raw_path.split("?", 1)[0])
        if match is None or request.method != "POST":
            err = _ApiError(404, "UnknownOperationException", "", _CORAL_SERVICE)
            return await self._send_error(request, exchange, err)
        raw = await request.read()  # aiohttp hands back the body it already read, unchanged
        if match["action"] == "invoke":
            return await self._invoke(request, exchange, unquote(match["model"]), raw)
        if match["action"] == "count-tokens":
            return await self._count_tokens(request, exchange, unquote(match["model"]), raw)
        return await self._converse(request, exchange, unquote(match["model"]), match["action"], raw)

    async def _invoke(
        self, request: web.BaseRequest, exchange: Exchange, model: str, raw: bytes
    ) -> web.StreamResponse:
        """InvokeModel on the embedding models (tests/upstreams/embeddings.py); the token count
        comes back in the `X-Amzn-Bedrock-Input-Token-Count` header, as Bedrock sends it."""
        behaviour = self.next_behaviour()
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request, raw)
            if request.headers.get("content-type") != "application/json":
                raise _validation("The provided Content-Type is not supported: use application/json")
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, ValueError):
                raise _validation(
                    "Malformed input request, please reformat your input and try again."
                ) from None
            if model in TITAN_MODELS:
                payload = titan_embed(body, model)
                input_tokens = payload["inputTextTokenCount"]
            elif model in COHERE_MODELS:
                payload = cohere_embed(body, model)
                input_tokens = sum(embedding_tokens(text) for text in payload["texts"])
            else:
                raise _ApiError(
                    404,
                    "ResourceNotFoundException",
                    "Could not resolve the foundation model from the provided model identifier.",
                )
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        except EmbeddingRefusedError as refused:
            return await self._send_error(request, exchange, _validation(refused.message), behaviour)
        headers = self._headers(exchange, behaviour)
        headers["X-Amzn-Bedrock-Input-Token-Count"] = str(input_tokens)
        headers["X-Amzn-Bedrock-Invocation-Latency"] = "12"
        return await self.send_json(request, exchange, 200, payload, headers)

    async def _count_tokens(
        self, request: web.BaseRequest, exchange: Exchange, model: str, raw: bytes
    ) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request, raw)
            tokens = validate_count(model, raw)
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        headers = self._headers(exchange, behaviour)
        return await self.send_json(request, exchange, 200, {"inputTokens": tokens}, headers)

    async def _converse(
        self, request: web.BaseRequest, exchange: Exchange, model: str, action: str, raw: bytes
    ) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        streaming = action == "converse-stream"
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.stall_after is not None and not streaming:
            await forever()
        if behaviour.raw_body is not None:
            headers = self._headers(exchange, behaviour)
            headers["Content-Type"] = behaviour.content_type or (
                "application/json" if not streaming else _EVENT_STREAM
            )
            return await self.send_bytes(request, exchange, behaviour.status, behaviour.raw_body, headers)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request, raw)
            chat = _validate("ConverseStream" if streaming else "Converse", model, raw)
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        reply = _plan_reply(chat, behaviour)
        if any(piece.ttl for piece in chat.cache_pieces):
            reply.cache = self.prompt_cache.on_request(model, chat.cache_pieces, _CACHE_MINIMUM[model])
        if not streaming:
            headers = self._headers(exchange, behaviour)
            return await self.send_json(
                request, exchange, 200, _unary_body(reply, exchange.started), headers, behaviour.content_type
            )
        headers = self._headers(exchange, behaviour)
        headers["Content-Type"] = behaviour.content_type or _EVENT_STREAM
        error_type = behaviour.error_type or "ModelStreamErrorException"
        error = exception_frame(_STREAM_EXCEPTIONS.get(error_type, error_type), behaviour.error_message)
        return await self.stream(
            request,
            exchange,
            behaviour,
            _stream_frames(reply, exchange.started),
            reply_chunks=reply.output_tokens,
            headers=headers,
            error_frame=error,
        )

    async def _send_forced_error(
        self, request: web.BaseRequest, exchange: Exchange, behaviour: Behaviour
    ) -> web.StreamResponse:
        error_type = behaviour.error_type or _DEFAULT_ERRORS.get(behaviour.status, "InternalServerException")
        if behaviour.error_body is not None:
            headers = self._headers(exchange, behaviour)
            headers["x-amzn-ErrorType"] = f"{error_type}:{_CORAL}"
            headers["Content-Type"] = behaviour.content_type or "application/json"
            raw = (
                behaviour.error_body
                if isinstance(behaviour.error_body, str)
                else json.dumps(behaviour.error_body)
            )
            return await self.send_bytes(request, exchange, behaviour.status, raw.encode(), headers)
        err = _ApiError(behaviour.status, error_type, behaviour.error_message)
        return await self._send_error(request, exchange, err, behaviour)


# --------------------------------------------------------------------------------------------------------
# Standalone entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.upstreams.bedrock", description="Run the Bedrock Converse simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-key-id", default="AKIDSIMULATOR")
    parser.add_argument("--secret-access-key", default="sim-secret")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)

    return serve_until_signalled(
        BedrockSimulator(args.access_key_id, args.secret_access_key, args.region, args.host, port=args.port)
    )


if __name__ == "__main__":
    sys.exit(main())
