"""A wire-faithful Google Gemini (Generative Language API, v1beta) upstream for gateway tests.

Routes: `POST /v1beta/models/{model}:generateContent`, `POST /v1beta/models/{model}:streamGenerateContent`
(with `?alt=sse`: Server-Sent Events, each `data:` a whole GenerateContentResponse and no terminator;
without it: one JSON array), `GET /v1beta/models` and `GET /v1beta/models/{model}`.

Strictness, and where it differs from the real API on purpose:
- Field names must be the REST API's camelCase. The real API's JSON parser also takes the proto's
  snake_case names; the simulator refuses them so an adapter that mixes the two styles is caught.
  Unknown names are refused with the real "Invalid JSON payload received. Unknown name" error.
- The key must come in `x-goog-api-key`. The real API also takes `?key=`; the simulator refuses it
  (400, API_KEY_INVALID shape) because keys in URLs end up in logs. A missing key is the real 403
  PERMISSION_DENIED; a wrong one the real 400 INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID.
- Rate-limit waits (`Behaviour.retry_after`) are sent the way Google sends them: as RetryInfo
  `retryDelay` in the error body (and in an in-stream error), not as a Retry-After header.
- Function calls come without ids (as from the Developer API) and whole, one call per stream event;
  a stream ends with an event carrying `finishReason` and the final `usageMetadata`.

Knob vocabulary: `error_type` is the Google status string (e.g. "RESOURCE_EXHAUSTED"); `error_code`
an ErrorInfo reason added to `details` (e.g. "API_KEY_INVALID"); `finish_reason` a Gemini finish
reason (e.g. "SAFETY").

    python -m tests.upstreams.gemini --host 127.0.0.1 --port 0 [--api-key K]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from tests.upstreams import signing
from tests.upstreams.base import (
    Behaviour,
    Exchange,
    RecordedRequest,
    SimulatorServer,
    compact_json,
    forever,
    random_id,
    serve_until_signalled,
    sse_event,
    word_chunks,
)
from tests.upstreams.embeddings import EmbeddingRefusedError, gemini_batch_embed, gemini_embed_content
from tests.upstreams.prompt_cache import PromptCache

__all__ = ["DEFAULT_API_KEY", "MODELS", "Behaviour", "GeminiSimulator", "RecordedRequest"]

DEFAULT_API_KEY: Final = "sim-gemini-key"
# Model id → the display name the listing reports.
MODELS: Final[dict[str, str]] = {
    "gemini-2.5-flash": "Gemini 2.5 Flash",
    "gemini-2.5-pro": "Gemini 2.5 Pro",
    "gemini-2.0-flash": "Gemini 2.0 Flash",
    "gemini-2.0-flash-lite": "Gemini 2.0 Flash-Lite",
    "gemini-3-pro-preview": "Gemini 3 Pro Preview",
}
# The placeholder Gemini documents for function calls it did not make itself.
SKIP_SIGNATURE: Final = "skip_thought_signature_validator"
_SIGNATURES_DOC: Final = "https://ai.google.dev/gemini-api/docs/thought-signatures"
_THINKING_LEVELS: Final = ("low", "high")
# Implicit caching (Gemini 2.5 models only): the shortest prompt it caches. Google does not say in
# what steps a shared prefix is matched; the simulator uses OpenAI's 128 tokens.
_IMPLICIT_CACHE_MINIMUM: Final[dict[str, int]] = {"gemini-2.5-flash": 1024, "gemini-2.5-pro": 4096}
_API: Final = "/v1beta"
_STATUS_NAMES: Final[dict[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FUNCTION_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")

# camelCase fields of every message the simulator reads, by message.
_REQUEST_FIELDS: Final = frozenset(
    {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "model",
    }
)
_CONTENT_FIELDS: Final = frozenset({"role", "parts"})
_PART_DATA: Final = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_PART_FIELDS: Final = frozenset({*_PART_DATA, "thought", "thoughtSignature", "videoMetadata", "partMetadata"})
_GENERATION_FIELDS: Final = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "mediaResolution",
    }
)
_TOOL_FIELDS: Final = frozenset({"functionDeclarations", "googleSearch", "codeExecution", "urlContext"})
_DECLARATION_FIELDS: Final = frozenset(
    {
        "name",
        "description",
        "parameters",
        "parametersJsonSchema",
        "response",
        "responseJsonSchema",
        "behavior",
    }
)
_FIELD_NAMES: Final[dict[str, frozenset[str]]] = {
    "GenerateContentRequest": _REQUEST_FIELDS,
    "GenerateContentRequest+model": _REQUEST_FIELDS | {"model"},
    "CountTokensRequest": frozenset({"contents", "generateContentRequest"}),
    "Content": _CONTENT_FIELDS,
    "Part": _PART_FIELDS,
    "GenerationConfig": _GENERATION_FIELDS,
    "Tool": _TOOL_FIELDS,
    "FunctionDeclaration": _DECLARATION_FIELDS,
    "ToolConfig": frozenset({"functionCallingConfig"}),
    "FunctionCallingConfig": frozenset({"mode", "allowedFunctionNames"}),
    "Blob": frozenset({"mimeType", "data"}),
    "FileData": frozenset({"mimeType", "fileUri"}),
    "FunctionCall": frozenset({"id", "name", "args"}),
    "FunctionResponse": frozenset({"id", "name", "response", "willContinue", "scheduling"}),
    "ThinkingConfig": frozenset({"thinkingBudget", "thinkingLevel", "includeThoughts"}),
}


# --------------------------------------------------------------------------------------------------------
# Errors and validation


class _ApiError(Exception):
    def __init__(
        self, code: int, message: str, status: str | None = None, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS_NAMES.get(code, "UNKNOWN")
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return error_envelope(self.code, self.message, self.status, self.details)


def error_envelope(code: int, message: str, status: str, details: list[dict[str, Any]]) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _bad_request(field_path: str, description: str) -> _ApiError:
    return _ApiError(
        400,
        f"* GenerateContentRequest.{field_path}: {description}\n",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field_path, "description": description}],
            }
        ],
    )


def _unknown_name(name: str, where: str) -> _ApiError:
    at = f" at '{where}'" if where else ""
    description = f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
    return _ApiError(
        400,
        description,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": where, "description": description}],
            }
        ],
    )


def _api_key_invalid(message: str = "API key not valid. Please pass a valid API key.") -> _ApiError:
    return _ApiError(
        400,
        message,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


def _snake(path: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), path)


def _object(value: Any, message: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _ApiError(
            400,
            f"Invalid JSON payload received. Unknown name \"\" at '{where}': Proto field is not repeating, "
            "cannot start list."
            if isinstance(value, list)
            else f"Invalid value at '{where}' ({message}), {json.dumps(value)}",
        )
    unknown = set(value) - _FIELD_NAMES.get(message, frozenset(value))
    if unknown:
        raise _unknown_name(sorted(unknown)[0], where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _ApiError(
            400,
            f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.ListValue), {json.dumps(value)}",
        )
    return value


def _number(config: dict[str, Any], name: str, low: float, high: float, *, integer: bool = False) -> None:
    value = config.get(name)
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not float(value).is_integer())
    ):
        kind = "TYPE_INT32" if integer else "TYPE_FLOAT"
        raise _ApiError(
            400,
            f"Invalid value at 'generation_config.{_snake(name)}' ({kind}), {json.dumps(value)}",
        )
    if not low <= value <= high:
        raise _bad_request(
            f"generation_config.{_snake(name)}",
            f"{name} must be in the range [{low:g}, {high:g}]"
            if name != "maxOutputTokens"
            else "max_output_tokens must be positive.",
        )


@dataclass
class _Request:
    model: str
    max_tokens: int | None
    prompt_words: int
    last_user_text: str
    declared: list[str] = field(default_factory=list)
    thinking: bool = False  # the model thinks on this request
    include_thoughts: bool = False


def _thinks_by_default(model: str) -> bool:
    return model.startswith(("gemini-2.5", "gemini-3"))


def _call_signature(call: dict[str, Any]) -> str:
    """A function call's thought signature covers the call itself."""
    return signing.sign("gemini", json.dumps(call, sort_keys=True, separators=(",", ":")))


def _text_signature() -> str:
    return signing.sign("gemini", "text part")


def _check_signature(part: dict[str, Any], where: str) -> None:
    """A thought signature comes back as Gemini made it (or as the documented placeholder)."""
    signature = part.get("thoughtSignature")
    if signature is None or signature == SKIP_SIGNATURE:
        return
    expected = _call_signature(part["functionCall"]) if "functionCall" in part else _text_signature()
    if not isinstance(signature, str) or signature != expected:
        raise _ApiError(400, "Corrupted thought signature.")


def _check_current_turn_signatures(contents: list[dict[str, Any]]) -> None:
    """Gemini 3: every step of the current turn (since the last user text) must bring back the
    signature of its first function call."""
    start = 0
    for i, content in enumerate(contents):
        if content.get("role", "user") == "user" and any("text" in p for p in content["parts"]):
            start = i + 1
    for i in range(start, len(contents)):
        content = contents[i]
        if content.get("role") != "model":
            continue
        calls = [p for p in content["parts"] if "functionCall" in p]
        if calls and "thoughtSignature" not in calls[0]:
            raise _ApiError(
                400,
                "Function call is missing a thought_signature in functionCall parts. This is required for "
                "tools to work correctly, and missing thought_signature may lead to degraded model "
                f"performance. Additional data, function call `default_api:{calls[0]['functionCall']['name']}` "
                f", position {i + 1}. Please refer to {_SIGNATURES_DOC} for more details.",
            )


def _validate_thinking(model: str, config: dict[str, Any]) -> tuple[bool, bool]:
    """(whether the model thinks, whether thoughts are returned), after the API's checks."""
    thinking = _object(
        config.get("thinkingConfig", {}), "ThinkingConfig", "generation_config.thinking_config"
    )
    unknown = set(thinking) - {"thinkingBudget", "thinkingLevel", "includeThoughts"}
    if unknown:
        raise _unknown_name(sorted(unknown)[0], "generation_config.thinking_config")
    if thinking and not _thinks_by_default(model):
        raise _bad_request("generation_config.thinking_config", "Thinking is not supported by this model.")
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        raise _bad_request(
            "generation_config.thinking_config",
            "You can only set only one of thinking budget and thinking level.",
        )
    level = thinking.get("thinkingLevel")
    if level is not None and (not model.startswith("gemini-3") or str(level).lower() not in _THINKING_LEVELS):
        raise _bad_request(
            "generation_config.thinking_config.thinking_level",
            "Thinking level is not supported for this model.",
        )
    budget = thinking.get("thinkingBudget")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < -1):
        raise _bad_request(
            "generation_config.thinking_config.thinking_budget", "The thinking budget is invalid."
        )
    if budget == 0 and model.startswith(("gemini-2.5-pro", "gemini-3")):
        raise _bad_request(
            "generation_config.thinking_config.thinking_budget",
            "Budget 0 is invalid. This model only works in thinking mode.",
        )
    # The real 2.5 models also think when not asked to; the simulator thinks only when asked (or on
    # Gemini 3, which always thinks), so that answers to plain requests stay simple to check.
    thinks = model.startswith("gemini-3") or (bool(thinking) and budget != 0)
    return thinks, thinks and thinking.get("includeThoughts") is True


def _validate_part(raw: Any, where: str, role: str) -> dict[str, Any]:
    part = _object(raw, "Part", where)
    data = [key for key in _PART_DATA if key in part]
    if len(data) != 1:
        raise _bad_request(
            where,
            "Must include exactly one of the data fields (text, inline_data, "
            "file_data, function_call, function_response, ...)."
            if data
            else "required oneof field 'data' must have one initialized field",
        )
    if "text" in part and not isinstance(part["text"], str):
        raise _ApiError(400, f"Invalid value at '{where}.text' (TYPE_STRING), {json.dumps(part['text'])}")
    if "inlineData" in part:
        blob = _object(part["inlineData"], "Blob", f"{where}.inline_data")
        if not blob.get("mimeType"):
            raise _bad_request(f"{where}.inline_data.mime_type", "mime_type must be set.")
        try:
            base64.b64decode(str(blob.get("data", "")), validate=True)
        except binascii.Error:
            raise _ApiError(
                400, f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
            ) from None
    if "fileData" in part:
        file_data = _object(part["fileData"], "FileData", f"{where}.file_data")
        uri = str(file_data.get("fileUri") or "")
        if not (uri.startswith("gs://") or uri.startswith("https://generativelanguage.googleapis.com/")):
            raise _bad_request(f"{where}.file_data.file_uri", f"Unsupported file uri: {uri}")
    if "functionCall" in part:
        call = _object(part["functionCall"], "FunctionCall", f"{where}.function_call")
        if role != "model":
            raise _bad_request(f"{where}.function_call", "function_call is only allowed in model turns.")
        if not call.get("name"):
            raise _bad_request(f"{where}.function_call.name", "Name cannot be empty.")
        if "args" in call and not isinstance(call["args"], dict):
            raise _ApiError(
                400,
                f"Invalid value at '{where}.function_call.args' (type.googleapis.com/google.protobuf.Struct), "
                f"{json.dumps(call['args'])}",
            )
    if "functionResponse" in part:
        response = _object(part["functionResponse"], "FunctionResponse", f"{where}.function_response")
        if not response.get("name"):
            raise _bad_request(f"{where}.function_response.name", "Name cannot be empty.")
        if not isinstance(response.get("response"), dict):
            raise _ApiError(
                400,
                f"Invalid value at '{where}.function_response.response' "
                f"(type.googleapis.com/google.protobuf.Struct), {json.dumps(response.get('response'))}",
            )
    return part


def _validate_contents(body: dict[str, Any]) -> tuple[int, str]:
    """(words of prompt text, text of the last user turn)."""
    contents = _list(body.get("contents", []), "contents")
    if not contents:
        raise _bad_request("contents", "contents is not specified")
    words = 0
    last_user = ""
    previous_calls = 0
    for i, raw_content in enumerate(contents):
        content = _object(raw_content, "Content", f"contents[{i}]")
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise _ApiError(400, "Please use a valid role: user, model.")
        parts = _list(content.get("parts", []), f"contents[{i}].parts")
        if not parts:
            raise _bad_request(f"contents[{i}].parts", "contents.parts must not be empty.")
        checked = [_validate_part(part, f"contents[{i}].parts[{j}]", role) for j, part in enumerate(parts)]
        responses = sum(1 for p in checked if "functionResponse" in p)
        if responses and responses != previous_calls:
            raise _ApiError(
                400,
                "Please ensure that the number of function response parts is equal to the number of "
                "function call parts of the function call turn.",
            )
        previous_calls = sum(1 for p in checked if "functionCall" in p)
        for j, part in enumerate(checked):
            _check_signature(part, f"contents[{i}].parts[{j}]")
        texts = [p["text"] for p in checked if "text" in p]
        words += sum(len(t.split()) for t in texts)
        if role == "user" and texts:
            last_user = "".join(texts)
    return words, last_user


def _validate_system(body: dict[str, Any]) -> int:
    if "systemInstruction" not in body:
        return 0
    system = _object(body["systemInstruction"], "Content", "system_instruction")
    if system.get("role") not in (None, "user", "system"):
        raise _ApiError(400, "Please use a valid role: user, model.")
    parts = [
        _validate_part(p, f"system_instruction.parts[{j}]", "user")
        for j, p in enumerate(_list(system.get("parts", []), "system_instruction.parts"))
    ]
    if any("text" not in p for p in parts):
        raise _bad_request("system_instruction.parts", "system_instruction only supports text parts.")
    return sum(len(p["text"].split()) for p in parts)


def _validate_tools(body: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for i, raw_tool in enumerate(_list(body.get("tools", []), "tools")):
        tool = _object(raw_tool, "Tool", f"tools[{i}]")
        for j, raw_declaration in enumerate(
            _list(tool.get("functionDeclarations", []), f"tools[{i}].function_declarations")
        ):
            where = f"tools[{i}].function_declarations[{j}]"
            declaration = _object(raw_declaration, "FunctionDeclaration", where)
            name = declaration.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
                raise _bad_request(
                    f"{where}.name",
                    "Invalid function name. Must start with a letter or an underscore. Must be alphameric "
                    "(a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum "
                    "length of 64.",
                )
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise _bad_request(
                    f"{where}", "parameters and parameters_json_schema are mutually exclusive."
                )
            schema = declaration.get("parametersJsonSchema", declaration.get("parameters"))
            if schema is not None and (
                not isinstance(schema, dict) or schema.get("type") not in ("object", "OBJECT")
            ):
                raise _bad_request(f"{where}.parameters", "parameters must describe an object.")
            names.append(name)
    return names


def _validate_tool_config(body: dict[str, Any], declared: list[str]) -> None:
    if "toolConfig" not in body:
        return
    config = _object(body["toolConfig"], "ToolConfig", "tool_config")
    calling = _object(
        config.get("functionCallingConfig", {}),
        "FunctionCallingConfig",
        "tool_config.function_calling_config",
    )
    mode = calling.get("mode", "MODE_UNSPECIFIED")
    if mode not in ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"):
        raise _ApiError(
            400,
            f"Invalid value at 'tool_config.function_calling_config.mode' "
            f'(type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "{mode}"',
        )
    allowed = _list(calling.get("allowedFunctionNames", []), "tool_config.function_calling_config")
    if allowed and mode not in ("ANY", "VALIDATED"):
        raise _bad_request(
            "tool_config.function_calling_config.allowed_function_names",
            "allowed_function_names should only be set when the Mode is ANY or VALIDATED.",
        )
    for name in allowed:
        if name not in declared:
            raise _bad_request(
                "tool_config.function_calling_config.allowed_function_names",
                f"Function name {name!r} is not declared in tools.",
            )


def _validate_generation(body: dict[str, Any]) -> int | None:
    if "generationConfig" not in body:
        return None
    config = _object(body["generationConfig"], "GenerationConfig", "generation_config")
    _number(config, "temperature", 0.0, 2.0)
    _number(config, "topP", 0.0, 1.0)
    _number(config, "topK", 1, 2**31 - 1, integer=True)
    _number(config, "maxOutputTokens", 1, 2**31 - 1, integer=True)
    _number(config, "seed", -(2**31), 2**31 - 1, integer=True)
    _number(config, "presencePenalty", -2.0, 2.0)
    _number(config, "frequencyPenalty", -2.0, 2.0)
    stops = _list(config.get("stopSequences", []), "generation_config.stop_sequences")
    if len(stops) > 5:
        raise _bad_request("generation_config.stop_sequences", "stop_sequences must have at most 5 elements.")
    mime = config.get("responseMimeType", "text/plain")
    if mime not in ("text/plain", "application/json", "text/x.enum"):
        raise _bad_request(
            "generation_config.response_mime_type",
            f"response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `text/x.enum`. "
            f"Got: {mime}",
        )
    if "responseSchema" in config and "responseJsonSchema" in config:
        raise _bad_request(
            "generation_config", "response_schema and response_json_schema are mutually exclusive."
        )
    if ("responseSchema" in config or "responseJsonSchema" in config) and mime == "text/plain":
        raise _bad_request(
            "generation_config.response_mime_type",
            "response_mime_type must be set to application/json when a response schema is set.",
        )
    if "responseJsonSchema" in config and not isinstance(config["responseJsonSchema"], dict):
        raise _bad_request("generation_config.response_json_schema", "must be a JSON Schema object.")
    value = config.get("maxOutputTokens")
    return int(value) if value is not None else None


def validate_request(model: str, body: Any) -> _Request:
    """Check a generateContent body like the real API; raises _ApiError with its error."""
    if not isinstance(body, dict):
        raise _ApiError(400, "Invalid JSON payload received. Expected an object.")
    _object(body, "GenerateContentRequest", "")
    words, last_user = _validate_contents(body)
    words += _validate_system(body)
    declared = _validate_tools(body)
    _validate_tool_config(body, declared)
    max_tokens = _validate_generation(body)
    if model not in MODELS:
        raise _ApiError(
            404,
            f"models/{model} is not found for API version v1beta, or is not supported for generateContent. "
            "Call ListModels to see the list of available models and their supported methods.",
        )
    thinking, thoughts = _validate_thinking(model, body.get("generationConfig") or {})
    if model.startswith("gemini-3"):
        _check_current_turn_signatures(body["contents"])
    return _Request(model, max_tokens, words, last_user, declared, thinking, thoughts)


def validate_count(model: str, body: Any) -> int:
    """Check a countTokens body like the real API; return the promptTokenCount generateContent would
    report for the same prompt. It takes `contents` alone, or a whole `generateContentRequest`
    (which must name its model), never both."""
    if not isinstance(body, dict):
        raise _ApiError(400, "Invalid JSON payload received. Expected an object.")
    _object(body, "CountTokensRequest", "")
    inner = body.get("generateContentRequest")
    if inner is not None and "contents" in body:
        raise _ApiError(400, "Only one of contents or generate_content_request can be set.")
    if inner is None:
        checked = validate_request(model, {"contents": body.get("contents")})
        return checked.prompt_words
    inner = dict(_object(inner, "GenerateContentRequest+model", "generate_content_request"))
    named = inner.pop("model", None)
    if not isinstance(named, str) or not named.startswith("models/"):
        raise _ApiError(400, "generate_content_request.model: must be of the form models/{model}.")
    return validate_request(named.removeprefix("models/"), inner).prompt_words


# --------------------------------------------------------------------------------------------------------
# Replies


@dataclass
class _Reply:
    chunks: list[str]
    calls: list[tuple[str, dict[str, Any]]]
    finish_reason: str
    prompt_tokens: int  # cached ones included, as Gemini counts them
    thinking: bool = False
    thoughts: list[str] = field(default_factory=list)  # returned thought text, in chunks
    thought_tokens: int = 0
    # Prompt tokens served from the implicit cache.
    cached_tokens: int = 0

    @property
    def output_tokens(self) -> int:
        return len(self.chunks) + len(self.calls)

    def usage(self, output: int | None = None) -> dict[str, Any]:
        produced = self.output_tokens if output is None else output
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": produced,
            "totalTokenCount": self.prompt_tokens + produced + self.thought_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}],
        }
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.cached_tokens}]
        if self.thought_tokens:
            usage["thoughtsTokenCount"] = self.thought_tokens
        return usage

    def thought_parts(self) -> list[dict[str, Any]]:
        return [{"text": chunk, "thought": True} for chunk in self.thoughts]

    def call_part(self, position: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """A function call part; with thinking on the first call carries the signature."""
        call = {"name": name, "args": args}
        part: dict[str, Any] = {"functionCall": call}
        if self.thinking and position == 0:
            part["thoughtSignature"] = _call_signature(call)
        return part

    def signs_text(self) -> bool:
        """Without calls, a thinking model signs its last text part."""
        return self.thinking and not self.calls


def _plan_reply(request: _Request, behaviour: Behaviour) -> _Reply:
    if behaviour.refusal is not None:
        # The safety filters withhold the candidate: no content at all, finishReason SAFETY.
        return _Reply([], [], behaviour.finish_reason or "SAFETY", request.prompt_words)
    calls = [(name, json.loads(arguments or "{}")) for name, arguments in behaviour.tool_calls]
    text = behaviour.reply_text
    if text is None and not calls:
        text = "You said: " + request.last_user_text
    chunks = word_chunks(text) if text else []
    finish = "STOP"
    if request.max_tokens is not None and request.max_tokens < len(chunks):
        chunks = chunks[: request.max_tokens]
        finish = "MAX_TOKENS"
    reply = _Reply(chunks, calls, behaviour.finish_reason or finish, request.prompt_words, request.thinking)
    if request.thinking:
        thought = word_chunks(signing.thinking_about(request.last_user_text))
        reply.thought_tokens = len(thought)
        reply.thoughts = thought if request.include_thoughts else []
    return reply


# Finish reasons whose candidate the API withholds whole (the prompt went through, the answer not).
_WITHHELD = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"})
_BLOCKING_RATING = {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}


def _response(
    parts: list[dict[str, Any]], finish: str | None, usage: dict[str, Any], model: str, response_id: str
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish in _WITHHELD:
        # A withheld candidate has no content, and says which safety rating blocked it.
        candidate = {"safetyRatings": [_BLOCKING_RATING]}
    if finish:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def _unary_body(reply: _Reply, model: str, response_id: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if reply.thoughts:
        parts.append({"text": "".join(reply.thoughts), "thought": True})
    if reply.chunks:
        parts.append({"text": "".join(reply.chunks)})
        if reply.signs_text():
            parts[-1]["thoughtSignature"] = _text_signature()
    parts.extend(reply.call_part(i, name, args) for i, (name, args) in enumerate(reply.calls))
    return _response(parts, reply.finish_reason, reply.usage(), model, response_id)


def _stream_events(reply: _Reply, model: str, response_id: str) -> list[str]:
    """One event per word and per function call, then one carrying finishReason and the final usage."""
    events: list[str] = []
    produced = 0
    for thought in reply.thought_parts():
        events.append(compact_json(_response([thought], None, reply.usage(0), model, response_id)))
    for position, chunk in enumerate(reply.chunks):
        produced += 1
        text_part: dict[str, Any] = {"text": chunk}
        if reply.signs_text() and position == len(reply.chunks) - 1:
            text_part["thoughtSignature"] = _text_signature()
        events.append(compact_json(_response([text_part], None, reply.usage(produced), model, response_id)))
    for position, (name, args) in enumerate(reply.calls):
        produced += 1
        part = reply.call_part(position, name, args)
        events.append(compact_json(_response([part], None, reply.usage(produced), model, response_id)))
    events.append(
        compact_json(_response([{"text": ""}], reply.finish_reason, reply.usage(), model, response_id))
    )
    return events


def _model_entry(model: str) -> dict[str, Any]:
    return {
        "name": f"models/{model}",
        "version": "001",
        "displayName": MODELS[model],
        "description": f"Simulated {MODELS[model]}",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": model.startswith("gemini-2.5"),
    }


class GeminiSimulator(SimulatorServer):
    """A Gemini API upstream on 127.0.0.1 (see SimulatorServer for the observables)."""

    name = "gemini"

    def __init__(
        self, api_key: str | None = DEFAULT_API_KEY, host: str = "127.0.0.1", *, port: int = 0
    ) -> None:
        super().__init__(api_key, host, port=port)
        # The project's implicit prompt cache.
        self.prompt_cache = PromptCache()

    def reset(self) -> None:
        super().reset()
        self.prompt_cache.clear()

    def _cached_tokens(self, model: str, body: dict[str, Any]) -> int:
        """What implicit caching serves of this prompt: the longest prefix seen before (system
        instruction, tools and contents, in order)."""
        minimum = _IMPLICIT_CACHE_MINIMUM.get(model)
        if minimum is None:
            return 0
        turns = [("system", (body.get("systemInstruction") or {}).get("parts") or [])]
        turns += [(turn.get("role", "user"), turn.get("parts") or []) for turn in body.get("contents") or []]
        tokens = [
            f"{role}:{word}"
            for role, parts in turns
            for part in parts
            if isinstance(part, dict)
            for word in str(part.get("text", "")).split()
        ]
        return self.prompt_cache.automatic(compact_json([model, body.get("tools")]), tokens, minimum)

    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        path, method = request.path, request.method
        prefix = f"{_API}/models/"
        if path.startswith(prefix) and ":" in path[len(prefix) :]:
            model, _, action = path[len(prefix) :].partition(":")
            if action in ("generateContent", "streamGenerateContent") and method == "POST":
                return await self._generate(request, exchange, body, model, action == "streamGenerateContent")
            if action in ("embedContent", "batchEmbedContents") and method == "POST":
                return await self._embed(request, exchange, body, model, batch=action == "batchEmbedContents")
            if action == "countTokens" and method == "POST":
                return await self._count_tokens(request, exchange, body, model)
        elif method == "GET" and (path == f"{_API}/models" or path.startswith(prefix)):
            try:
                self._check_auth(request)
            except _ApiError as err:
                return await self._send(request, exchange, err.code, err.body())
            return await self._models(
                request, exchange, path[len(prefix) :] if path.startswith(prefix) else ""
            )
        return await self.send_bytes(
            request,
            exchange,
            404,
            b"<!DOCTYPE html><title>Error 404 (Not Found)!!1</title>",
            {"Content-Type": "text/html; charset=UTF-8"},
        )

    def _check_auth(self, request: web.BaseRequest) -> None:
        if "key" in request.query:
            raise _api_key_invalid("API keys in the URL are refused by this simulator; use x-goog-api-key.")
        if self.api_key is None:
            return
        provided = request.headers.get("x-goog-api-key")
        if not provided:
            raise _ApiError(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API key or other form of API consumer identity to call this API.",
            )
        if not secrets.compare_digest(provided.encode(), self.api_key.encode()):
            raise _api_key_invalid()

    async def _send(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        status: int,
        payload: object,
        behaviour: Behaviour | None = None,
    ) -> web.StreamResponse:
        headers = {"x-gemini-service-tier": "standard", "server-timing": "gfet4t7; dur=1", "Vary": "Origin"}
        content_type = (behaviour.content_type if behaviour else None) or "application/json; charset=UTF-8"
        return await self.send_json(request, exchange, status, payload, headers, content_type)

    async def _models(self, request: web.BaseRequest, exchange: Exchange, model: str) -> web.StreamResponse:
        if not model:
            return await self._send(request, exchange, 200, {"models": [_model_entry(m) for m in MODELS]})
        if model in MODELS:
            return await self._send(request, exchange, 200, _model_entry(model))
        err = _ApiError(404, f"models/{model} is not found for API version v1beta, or is not supported.")
        return await self._send(request, exchange, 404, err.body())

    async def _embed(
        self, request: web.BaseRequest, exchange: Exchange, body: Any, model: str, *, batch: bool
    ) -> web.StreamResponse:
        """`:embedContent` and `:batchEmbedContents` (tests/upstreams/embeddings.py)."""
        behaviour = self.next_behaviour()
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.raw_body is not None:
            headers = {"Content-Type": behaviour.content_type or "application/json; charset=UTF-8"}
            return await self.send_bytes(request, exchange, behaviour.status, behaviour.raw_body, headers)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request)
            payload = gemini_batch_embed(body, model) if batch else gemini_embed_content(body, model)
        except _ApiError as err:
            return await self._send(request, exchange, err.code, err.body())
        except EmbeddingRefusedError as refused:
            refusal = _ApiError(refused.status, refused.message)
            return await self._send(request, exchange, refusal.code, refusal.body())
        return await self._send(request, exchange, 200, payload, behaviour)

    async def _generate(
        self, request: web.BaseRequest, exchange: Exchange, body: Any, model: str, streaming: bool
    ) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        sse = streaming and request.query.get("alt") == "sse"
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.stall_after is not None and not streaming:
            await forever()
        # Injected failures come first: an overloaded upstream answers before it looks at the request.
        if behaviour.raw_body is not None:
            headers = {"Content-Type": behaviour.content_type or "application/json; charset=UTF-8"}
            return await self.send_bytes(request, exchange, behaviour.status, behaviour.raw_body, headers)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request)
            if body is None and (await request.read()):
                raise _ApiError(400, "Invalid JSON payload received. Unexpected token.")
            checked = validate_request(model, body)
        except _ApiError as err:
            return await self._send(request, exchange, err.code, err.body())
        reply = _plan_reply(checked, behaviour)
        reply.cached_tokens = self._cached_tokens(model, body)
        response_id = random_id("", 22)
        if not streaming:
            return await self._send(request, exchange, 200, _unary_body(reply, model, response_id), behaviour)
        events = _stream_events(reply, model, response_id)
        if not sse:
            # Without alt=sse the real API streams one JSON array of responses.
            array = [json.loads(event) for event in events]
            return await self._send(request, exchange, 200, array, behaviour)
        error = self._error_body(behaviour, 500)
        headers = {
            "Content-Type": behaviour.content_type or "text/event-stream",
            "Cache-Control": "no-cache",
            "x-gemini-service-tier": "standard",
        }
        return await self.stream(
            request,
            exchange,
            behaviour,
            [sse_event(data, behaviour, index) for index, data in enumerate(events)],
            reply_chunks=reply.output_tokens,
            headers=headers,
            error_frame=sse_event(compact_json(error), behaviour, 0),
            opening_frames=0,
        )

    async def _count_tokens(
        self, request: web.BaseRequest, exchange: Exchange, body: Any, model: str
    ) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request)
            tokens = validate_count(model, body)
        except _ApiError as err:
            return await self._send(request, exchange, err.code, err.body())
        payload = {"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}
        return await self._send(request, exchange, 200, payload, behaviour)

    def _error_body(self, behaviour: Behaviour, status: int) -> dict[str, Any]:
        """The error envelope for a forced error; in a stream `status` is only the default: an
        `error_type` such as "UNAVAILABLE" picks the matching code."""
        status_name = behaviour.error_type or _STATUS_NAMES.get(status, "UNKNOWN")
        if behaviour.status == 200:
            status = next((code for code, name in _STATUS_NAMES.items() if name == status_name), status)
        details: list[dict[str, Any]] = []
        if behaviour.error_code:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": behaviour.error_code,
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            )
        if behaviour.retry_after is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{behaviour.retry_after}s",
                }
            )
        return error_envelope(status, behaviour.error_message, status_name, details)

    async def _send_forced_error(
        self, request: web.BaseRequest, exchange: Exchange, behaviour: Behaviour
    ) -> web.StreamResponse:
        if isinstance(behaviour.error_body, str):
            headers = {"Content-Type": behaviour.content_type or "application/json; charset=UTF-8"}
            return await self.send_bytes(
                request, exchange, behaviour.status, behaviour.error_body.encode(), headers
            )
        payload = behaviour.error_body or self._error_body(behaviour, behaviour.status)
        return await self._send(request, exchange, behaviour.status, payload, behaviour)


# --------------------------------------------------------------------------------------------------------
# Standalone entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.upstreams.gemini", description="Run the Gemini simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        help="key required in x-goog-api-key (default: %(default)s; pass '' to disable auth)",
    )
    args = parser.parse_args(argv)
    return serve_until_signalled(
        GeminiSimulator(api_key=args.api_key or None, host=args.host, port=args.port)
    )


if __name__ == "__main__":
    sys.exit(main())
