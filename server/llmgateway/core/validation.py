"""Edge validation of ChatRequest: every problem is reported at once as a BadRequest field
violation, so the caller can fix its request in one go. Nothing provider-specific lives here."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator

import jsonschema
import jsonschema.exceptions
from google.protobuf import struct_pb2

from llmgateway.config import LimitsSettings
from llmgateway.errors import FieldViolation, invalid_argument
from llmgateway.providers.cache_breakpoints import violations as cache_breakpoint_violations
from llmgateway.providers.wire_json import struct_to_dict
from llmgateway.reasoning.ask import violations as reasoning_violations
from llmgateway.routing.kinds import RoutedRequest
from llmgateway.v1 import chat_pb2, content_pb2

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")
_MAX_MODEL_NAME = 256  # longer than any provider's model id; the name goes into logs and metadata
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
_MAX_LABELS = 64
_MAX_LABEL_VALUE = 256
_MAX_STOP_SEQUENCES = 16
_MAX_TOOLS = 128

# Which part kinds each role may carry.
_ALLOWED_PARTS: dict[content_pb2.Role.ValueType, frozenset[str]] = {
    content_pb2.ROLE_SYSTEM: frozenset({"text"}),
    content_pb2.ROLE_DEVELOPER: frozenset({"text"}),
    content_pb2.ROLE_USER: frozenset({"text", "media"}),
    # refusal: an earlier answer sent back as received (the adapters pass it on as the protocol can).
    content_pb2.ROLE_ASSISTANT: frozenset({"text", "media", "tool_call", "reasoning", "refusal"}),
    content_pb2.ROLE_TOOL: frozenset({"tool_result"}),
}


def _media(path: str, media: content_pb2.Media) -> Iterator[FieldViolation]:
    source = media.WhichOneof("source")
    if source is None:
        yield FieldViolation(path, "media needs data or uri")
    elif source == "data":
        if not media.data:
            yield FieldViolation(f"{path}.data", "media data is empty")
        if not media.mime_type:
            yield FieldViolation(f"{path}.mime_type", "inline media needs a mime_type")
    elif not (media.uri.startswith("https://") or media.uri.startswith("data:")):
        yield FieldViolation(f"{path}.uri", "media uri must be https:// or a data: URI")


def _part(path: str, role: content_pb2.Role.ValueType, part: content_pb2.Part) -> Iterator[FieldViolation]:
    kind = part.WhichOneof("kind")
    if kind is None:
        yield FieldViolation(
            path, "part has no content: set text, media, tool_call, tool_result or reasoning"
        )
        return
    if kind not in _ALLOWED_PARTS.get(role, frozenset()):
        yield FieldViolation(path, f"a {content_pb2.Role.Name(role)} message cannot carry a {kind} part")
        return
    if kind == "media":
        yield from _media(f"{path}.media", part.media)
    elif kind == "tool_call":
        call = part.tool_call
        if not call.id:
            yield FieldViolation(f"{path}.tool_call.id", "tool call needs an id")
        if not call.name:
            yield FieldViolation(f"{path}.tool_call.name", "tool call needs a name")
        if call.arguments_json:
            try:
                arguments = json.loads(call.arguments_json)
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):
                yield FieldViolation(f"{path}.tool_call.arguments_json", "must be a JSON object")
    elif kind == "tool_result":
        result = part.tool_result
        if not result.tool_call_id:
            yield FieldViolation(f"{path}.tool_result.tool_call_id", "tool result needs the call's id")
        for index, inner in enumerate(result.content):
            inner_kind = inner.WhichOneof("kind")
            if inner_kind not in ("text", "media"):
                yield FieldViolation(
                    f"{path}.tool_result.content[{index}]", "tool result content must be text or media"
                )
            elif inner_kind == "media":
                yield from _media(f"{path}.tool_result.content[{index}].media", inner.media)


def _messages(request: chat_pb2.ChatRequest, limits: LimitsSettings) -> Iterator[FieldViolation]:
    if not request.messages:
        yield FieldViolation("messages", "at least one message is required")
        return
    if len(request.messages) > limits.max_messages:
        yield FieldViolation("messages", f"at most {limits.max_messages} messages are allowed")
        return
    call_ids: set[str] = set()
    for index, message in enumerate(request.messages):
        path = f"messages[{index}]"
        if message.role not in _ALLOWED_PARTS:
            yield FieldViolation(f"{path}.role", "role must be SYSTEM, DEVELOPER, USER, ASSISTANT or TOOL")
            continue
        if not message.parts:
            yield FieldViolation(f"{path}.parts", "a message needs at least one part")
        for part_index, part in enumerate(message.parts):
            yield from _part(f"{path}.parts[{part_index}]", message.role, part)
            if part.WhichOneof("kind") == "tool_call":
                call_ids.add(part.tool_call.id)
            elif part.WhichOneof("kind") == "tool_result" and part.tool_result.tool_call_id not in call_ids:
                yield FieldViolation(
                    f"{path}.parts[{part_index}].tool_result.tool_call_id",
                    "does not answer any earlier tool call",
                )


def _in_range(
    path: str, value: float, low: float, high: float, *, low_open: bool = False
) -> Iterator[FieldViolation]:
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        yield FieldViolation(path, f"must be in {bracket}{low:g}, {high:g}]")


def _generation(config: chat_pb2.GenerationConfig) -> Iterator[FieldViolation]:
    path = "generation_config"
    if config.HasField("max_output_tokens") and config.max_output_tokens <= 0:
        yield FieldViolation(f"{path}.max_output_tokens", "must be positive")
    if config.HasField("temperature"):
        yield from _in_range(f"{path}.temperature", config.temperature, 0.0, 2.0)
    if config.HasField("top_p"):
        yield from _in_range(f"{path}.top_p", config.top_p, 0.0, 1.0, low_open=True)
    if config.HasField("top_k") and config.top_k <= 0:
        yield FieldViolation(f"{path}.top_k", "must be positive")
    if config.HasField("presence_penalty"):
        yield from _in_range(f"{path}.presence_penalty", config.presence_penalty, -2.0, 2.0)
    if config.HasField("frequency_penalty"):
        yield from _in_range(f"{path}.frequency_penalty", config.frequency_penalty, -2.0, 2.0)
    if len(config.stop_sequences) > _MAX_STOP_SEQUENCES:
        yield FieldViolation(f"{path}.stop_sequences", f"at most {_MAX_STOP_SEQUENCES} are allowed")
    for index, stop in enumerate(config.stop_sequences):
        if not stop:
            yield FieldViolation(f"{path}.stop_sequences[{index}]", "must not be empty")
    if config.HasField("response_json_schema"):
        yield from _json_schema(f"{path}.response_json_schema", config.response_json_schema)
        if config.response_json_object:
            yield FieldViolation(f"{path}.response_json_object", "set it or response_json_schema, not both")
    elif config.response_json_schema_strict:
        yield FieldViolation(f"{path}.response_json_schema_strict", "only with response_json_schema")


def _json_schema(path: str, schema: struct_pb2.Struct) -> Iterator[FieldViolation]:
    try:
        jsonschema.Draft202012Validator.check_schema(struct_to_dict(schema))
    except jsonschema.exceptions.SchemaError as error:
        where = "/".join(str(p) for p in error.absolute_path)
        yield FieldViolation(
            path, f"not a valid JSON Schema{' at ' + where if where else ''}: {error.message}"
        )


def _tools(request: chat_pb2.ChatRequest) -> Iterator[FieldViolation]:
    if len(request.tools) > _MAX_TOOLS:
        yield FieldViolation("tools", f"at most {_MAX_TOOLS} tools are allowed")
    names: set[str] = set()
    for index, tool in enumerate(request.tools):
        path = f"tools[{index}]"
        if not _TOOL_NAME.match(tool.name):
            yield FieldViolation(f"{path}.name", "must be 1-64 letters, digits, '_' or '-'")
        elif tool.name in names:
            yield FieldViolation(f"{path}.name", f"duplicate tool name {tool.name!r}")
        names.add(tool.name)
        if tool.HasField("parameters"):
            parameters = tool.parameters
            type_value = parameters.fields.get("type")
            if type_value is not None and type_value.string_value != "object":
                yield FieldViolation(f"{path}.parameters", 'the parameters schema must have "type": "object"')
            yield from _json_schema(f"{path}.parameters", parameters)
    choice = request.tool_choice
    mode = choice.mode
    if mode not in content_pb2.ToolChoice.Mode.values():
        yield FieldViolation("tool_choice.mode", "unknown mode")
    elif mode == content_pb2.ToolChoice.MODE_TOOL:
        if choice.tool_name not in names:
            yield FieldViolation("tool_choice.tool_name", "must name one of the request's tools")
    elif choice.tool_name:
        yield FieldViolation("tool_choice.tool_name", "only allowed with MODE_TOOL")
    if mode in (content_pb2.ToolChoice.MODE_REQUIRED, content_pb2.ToolChoice.MODE_TOOL) and not request.tools:
        yield FieldViolation("tool_choice", "requires tools")
    if choice.disable_parallel_tool_calls and not request.tools:
        yield FieldViolation("tool_choice.disable_parallel_tool_calls", "requires tools")


def identity_violations(request: RoutedRequest) -> Iterator[FieldViolation]:
    """What is wrong with a chat or embeddings request's model, request id and labels."""
    if not request.model:
        yield FieldViolation("model", "model is required")
    elif len(request.model) > _MAX_MODEL_NAME:
        yield FieldViolation("model", f"longer than {_MAX_MODEL_NAME} characters")
    if request.request_id and not _REQUEST_ID.match(request.request_id):
        yield FieldViolation("request_id", "must be 1-128 characters of letters, digits and ._:/-")
    if len(request.labels) > _MAX_LABELS:
        yield FieldViolation("labels", f"at most {_MAX_LABELS} labels are allowed")
    for key, value in request.labels.items():
        if not _LABEL_KEY.match(key):
            yield FieldViolation(f"labels[{key[:64]}]", "key must be 1-63 letters, digits and ._/-")
        if len(value) > _MAX_LABEL_VALUE:
            yield FieldViolation(f"labels[{key[:64]}]", f"value longer than {_MAX_LABEL_VALUE} characters")
    if isinstance(request, chat_pb2.ChatRequest):
        yield from reasoning_violations(request)


def validate_request(request: chat_pb2.ChatRequest, limits: LimitsSettings) -> None:
    """Raise INVALID_ARGUMENT with every violation, or return when the request is well formed."""
    size = request.ByteSize()
    if size > limits.max_request_bytes:
        raise invalid_argument(
            [FieldViolation("request", f"request is {size} bytes; the limit is {limits.max_request_bytes}")]
        )
    violations = [
        *identity_violations(request),
        *_messages(request, limits),
        *_generation(request.generation_config),
        *_tools(request),
        *cache_breakpoint_violations(request),
    ]
    if violations:
        raise invalid_argument(violations)
