"""A wire-faithful OpenAI Chat Completions upstream for gateway tests.

The simulator is a real HTTP/1.1 server (aiohttp's low-level server) running in its own thread and event
loop, so the code under test talks to it exactly as it would talk to api.openai.com: over TCP, with
keep-alive, chunked SSE bodies and the real error envelopes.  Each request is answered according to a
`Behaviour`, which lets a test inject latency, errors, truncated or reset streams and stalls, and then
observe from the outside (`requests`, `disconnects`, `completed`, `connections_opened`) what the gateway did.

Standalone use (for poking at a gateway by hand):

    python -m tests.upstreams.openai --host 127.0.0.1 --port 0 [--api-key K]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aiohttp import web

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
    sse_event,
    word_chunks,
)
from tests.upstreams.embeddings import OPENAI_EMBEDDING_MODELS, EmbeddingRefusedError, openai_embeddings
from tests.upstreams.prompt_cache import PromptCache

__all__ = [
    "DIALECT_MODELS",
    "MODELS",
    "Behaviour",
    "Dialect",
    "OpenAISimulator",
    "RecordedRequest",
    "mask_key",
]

Dialect = Literal["openai", "vllm", "together"]

# Requested model → the dated snapshot the real API reports back in `model`.
MODELS: Final[dict[str, str]] = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "o4-mini": "o4-mini-2025-04-16",
}
# The reasoning models, and the efforts they take (Chat Completions returns no reasoning text; the
# hidden reasoning shows in usage only).
_REASONING_EFFORTS: Final[dict[str, tuple[str, ...]]] = {"o4-mini-2025-04-16": ("low", "medium", "high")}
# Tokens a reasoning model spends thinking on every answer, by effort.
_HIDDEN_REASONING: Final = {"low": 2, "medium": 4, "high": 8}

_ROLES: Final = ("system", "developer", "user", "assistant", "tool")
_MESSAGE_KEYS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}
# Everything the real endpoint accepts; anything else is rejected as "Unrecognized request argument",
# which is how provider-specific knobs (top_k, ...) leaking through a gateway get caught.
_KNOWN_PARAMS: Final = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "functions",
        "function_call",
        "store",
        "metadata",
        "service_tier",
        "modalities",
        "audio",
        "prediction",
        "reasoning_effort",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
    }
)
# Sampling knobs the open-model servers take beyond OpenAI's set.
_VLLM_PARAMS: Final = frozenset(
    {
        "top_k",
        "min_p",
        "repetition_penalty",
        "length_penalty",
        "min_tokens",
        "ignore_eos",
        "skip_special_tokens",
        "spaces_between_special_tokens",
        "stop_token_ids",
        "include_stop_str_in_output",
        "use_beam_search",
        "best_of",
        "truncate_prompt_tokens",
        "prompt_logprobs",
        "echo",
        "add_generation_prompt",
        "continue_final_message",
        "add_special_tokens",
        "chat_template",
        "chat_template_kwargs",
        "guided_json",
        "guided_regex",
        "guided_choice",
        "guided_grammar",
        "structured_outputs",
        "priority",
        "request_id",
        "bad_words",
        "allowed_token_ids",
    }
)
_TOGETHER_PARAMS: Final = frozenset(
    {"top_k", "min_p", "repetition_penalty", "echo", "safety_model", "context_length_exceeded_behavior"}
)
# What each dialect serves: requested model → the name reported back in `model`.
DIALECT_MODELS: Final[dict[str, dict[str, str]]] = {
    "openai": MODELS,
    "vllm": {"meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct"},
    "together": {
        "meta-llama/Llama-3.3-70B-Instruct-Turbo": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "Qwen/Qwen2.5-7B-Instruct-Turbo": "Qwen/Qwen2.5-7B-Instruct-Turbo",
    },
}
_TOOL_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PARSE_ERROR: Final = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI does in 401 messages, never revealing the whole key."""
    if len(key) <= 8:
        return "****"
    return f"{key[:4]}****{key[-4:]}"


# --------------------------------------------------------------------------------------------------------
# Errors and validation


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str | None = "invalid_request_error",
        param: str | None = None,
        code: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return _error_envelope(self.message, self.type, self.param, self.code)


def _error_envelope(
    message: str, type_: str | None, param: str | None, code: str | int | None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _describe(value: object) -> str:
    # bool before int: bool is an int subclass, but the API calls it a boolean.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unknown type"


def _invalid_type(param: str, expected: str, value: object) -> _ApiError:
    return _ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_describe(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> _ApiError:
    return _ApiError(
        400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _invalid_value(param: str, value: object, supported: Sequence[str]) -> _ApiError:
    quoted = [f"'{s}'" for s in supported]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
    return _ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_range(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_number(value):
        raise _invalid_type(name, "a decimal", value)
    if value < low:
        raise _ApiError(
            400,
            f"Invalid '{name}': decimal below minimum value. Expected a value >= {low:g}, "
            f"but got {value} instead.",
            param=name,
            code="decimal_below_min_value",
        )
    if value > high:
        raise _ApiError(
            400,
            f"Invalid '{name}': decimal above maximum value. Expected a value <= {high:g}, "
            f"but got {value} instead.",
            param=name,
            code="decimal_above_max_value",
        )


def _check_positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid_type(name, "an integer", value)
    if value < 1:
        raise _ApiError(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return value


@dataclass(frozen=True)
class ChatRules:
    """What one OpenAI-compatible server accepts in a chat completion body."""

    params: frozenset[str] = _KNOWN_PARAMS
    roles: tuple[str, ...] = _ROLES
    # Requested model → the name reported back; None when the body's `model` is ignored (Azure,
    # where the deployment in the URL picks the model).
    models: Mapping[str, str] | None = field(default_factory=lambda: MODELS)
    # Where `models` is None: the snapshot the URL picked (Azure's deployment), whose rules (the
    # reasoning efforts it takes) apply.
    served_snapshot: str = ""
    # Unknown top-level fields: rejected (OpenAI) or ignored with a log line (vLLM).
    reject_unknown: bool = True
    # Only OpenAI limits `stop` to four sequences and temperature to 2.
    openai_limits: bool = True
    not_found: str = "The model `{model}` does not exist or you do not have access to it."


@dataclass
class _ChatRequest:
    # The model name reported back in the answer.
    model: str
    stream: bool
    include_usage: bool
    max_tokens: int | None
    prompt_words: int
    last_user_text: str
    reasoning_effort: str | None = None  # a reasoning model's effort: it thinks, hidden


def _check_reasoning_effort(body: dict[str, Any], snapshot: str) -> str | None:
    """OpenAI's rules: `reasoning_effort` only for reasoning models, and only the efforts they take;
    reasoning models think at medium effort when not told."""
    efforts = _REASONING_EFFORTS.get(snapshot)
    effort = body.get("reasoning_effort")
    if effort is None:
        return "medium" if efforts else None
    if efforts is None:
        raise _ApiError(
            400,
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            param="reasoning_effort",
            code="unsupported_parameter",
        )
    if effort not in efforts:
        supported = ", ".join(f"'{e}'" for e in efforts)
        raise _ApiError(
            400,
            f"Unsupported value: 'reasoning_effort' does not support {effort!r} with this model. "
            f"Supported values are: {supported}.",
            param="reasoning_effort",
            code="unsupported_value",
        )
    return str(effort)


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"] for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _validate_parts(where: str, role: str, parts: list[Any]) -> None:
    if not parts:
        raise _ApiError(
            400,
            f"Invalid '{where}': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param=where,
            code="empty_array",
        )
    supported = {"user": ("text", "image_url"), "assistant": ("text", "refusal")}.get(role, ("text",))
    for j, part in enumerate(parts):
        at = f"{where}[{j}]"
        if not isinstance(part, dict):
            raise _invalid_type(at, "an object", part)
        kind = part.get("type")
        if kind is None:
            raise _missing(f"{at}.type")
        if kind not in supported:
            raise _invalid_value(f"{at}.type", kind, supported)
        if kind in ("text", "refusal"):
            if kind not in part:
                raise _missing(f"{at}.{kind}")
            if not isinstance(part[kind], str):
                raise _invalid_type(f"{at}.{kind}", "a string", part[kind])
            continue
        image = part.get("image_url")
        if image is None:
            raise _missing(f"{at}.image_url")
        if not isinstance(image, dict):
            raise _invalid_type(f"{at}.image_url", "an object", image)
        url = image.get("url")
        if not isinstance(url, str):
            raise _invalid_type(f"{at}.image_url.url", "a string", url)
        if not url.startswith(("https://", "data:image/")):
            raise _ApiError(
                400,
                f"Invalid '{at}.image_url.url': expected a URL starting with 'https://' "
                "or a base64 'data:image/' URL.",
                param=f"{at}.image_url.url",
                code="invalid_value",
            )
        detail = image.get("detail")
        if detail is not None and detail not in ("auto", "low", "high"):
            raise _invalid_value(f"{at}.image_url.detail", detail, ("auto", "low", "high"))


def _validate_tool_calls(where: str, calls: object) -> list[str]:
    if not isinstance(calls, list):
        raise _invalid_type(where, "an array", calls)
    if not calls:
        raise _ApiError(
            400,
            f"Invalid '{where}': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param=where,
            code="empty_array",
        )
    ids: list[str] = []
    for j, call in enumerate(calls):
        at = f"{where}[{j}]"
        if not isinstance(call, dict):
            raise _invalid_type(at, "an object", call)
        for key in ("id", "type", "function"):
            if key not in call:
                raise _missing(f"{at}.{key}")
        if not isinstance(call["id"], str):
            raise _invalid_type(f"{at}.id", "a string", call["id"])
        if call["type"] != "function":
            raise _invalid_value(f"{at}.type", call["type"], ("function",))
        function = call["function"]
        if not isinstance(function, dict):
            raise _invalid_type(f"{at}.function", "an object", function)
        for key in ("name", "arguments"):
            if key not in function:
                raise _missing(f"{at}.function.{key}")
            if not isinstance(function[key], str):
                raise _invalid_type(f"{at}.function.{key}", "a string", function[key])
        ids.append(call["id"])
    return ids


def _validate_messages(messages: object, roles: tuple[str, ...] = _ROLES) -> tuple[int, str, str]:
    """Validate `messages`; return (prompt word count, last user message text, all message text)."""
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array", messages)
    if not messages:
        raise _ApiError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    seen_call_ids: set[str] = set()
    words = 0
    last_user = ""
    texts: list[str] = []
    for i, message in enumerate(messages):
        at = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _invalid_type(at, "an object", message)
        role = message.get("role")
        if role is None:
            raise _missing(f"{at}.role")
        if role not in roles:
            raise _invalid_value(f"{at}.role", role, roles)
        for key in message:
            if key not in _MESSAGE_KEYS[role]:
                raise _ApiError(
                    400,
                    f"Unrecognized request argument supplied: {at}.{key}",
                    param=f"{at}.{key}",
                    code="unknown_parameter",
                )
        has_tool_calls = role == "assistant" and message.get("tool_calls") is not None
        if has_tool_calls:
            seen_call_ids.update(_validate_tool_calls(f"{at}.tool_calls", message["tool_calls"]))
        content = message.get("content")
        if content is None:
            # Only an assistant turn that calls tools (or refuses) may omit its content.
            if not (has_tool_calls or (role == "assistant" and message.get("refusal") is not None)):
                raise _missing(f"{at}.content")
        elif isinstance(content, list):
            _validate_parts(f"{at}.content", role, content)
        elif not isinstance(content, str):
            raise _invalid_type(f"{at}.content", "one of a string or array of objects", content)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id is None:
                raise _missing(f"{at}.tool_call_id")
            if not isinstance(call_id, str):
                raise _invalid_type(f"{at}.tool_call_id", "a string", call_id)
            if call_id not in seen_call_ids:
                raise _ApiError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    f"message with 'tool_calls' (no earlier tool call has id '{call_id}').",
                    param=f"{at}.tool_call_id",
                    code=None,
                )
        text = _content_text(content)
        texts.append(text)
        words += len(text.split())
        if role == "user":
            last_user = text
    return words, last_user, "\n".join(texts)


def _validate_tools(body: dict[str, Any]) -> list[str]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _invalid_type("tools", "an array", tools)
    if not tools:
        raise _ApiError(
            400,
            "Invalid 'tools': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="tools",
            code="empty_array",
        )
    names: list[str] = []
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _invalid_type(at, "an object", tool)
        if "type" not in tool:
            raise _missing(f"{at}.type")
        if tool["type"] != "function":
            raise _invalid_value(f"{at}.type", tool["type"], ("function",))
        function = tool.get("function")
        if function is None:
            raise _missing(f"{at}.function")
        if not isinstance(function, dict):
            raise _invalid_type(f"{at}.function", "an object", function)
        name = function.get("name")
        if name is None:
            raise _missing(f"{at}.function.name")
        if not isinstance(name, str):
            raise _invalid_type(f"{at}.function.name", "a string", name)
        if not _TOOL_NAME.match(name):
            raise _ApiError(
                400,
                f"Invalid '{at}.function.name': string does not match pattern. Expected a string that "
                "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                param=f"{at}.function.name",
                code="invalid_value",
            )
        if "parameters" in function and not isinstance(function["parameters"], dict):
            raise _invalid_type(f"{at}.function.parameters", "an object", function["parameters"])
        if name in names:
            raise _ApiError(
                400,
                f"Invalid 'tools': function names must be unique, but '{name}' is declared more than once.",
                param=f"{at}.function.name",
                code="invalid_value",
            )
        names.append(name)
    return names


def _validate_tool_choice(body: dict[str, Any], tool_names: list[str]) -> None:
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not tool_names:
        raise _ApiError(
            400,
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            param="tool_choice",
            code=None,
        )
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise _invalid_value("tool_choice", choice, ("none", "auto", "required"))
        return
    if not isinstance(choice, dict):
        raise _invalid_type("tool_choice", "one of a string or object", choice)
    if choice.get("type") != "function":
        raise _invalid_value("tool_choice.type", choice.get("type"), ("function",))
    function = choice.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _missing("tool_choice.function.name")
    if function["name"] not in tool_names:
        raise _ApiError(
            400,
            f"Invalid value for 'tool_choice': function '{function['name']}' is not among the "
            "provided tools.",
            param="tool_choice.function.name",
            code="invalid_value",
        )


def _validate_response_format(body: dict[str, Any], prompt_text: str) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise _invalid_type("response_format", "an object", fmt)
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise _invalid_value("response_format.type", kind, ("json_object", "json_schema", "text"))
    if kind == "json_object" and "json" not in prompt_text.lower():
        raise _ApiError(
            400,
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
            "'json_object'.",
            param="messages",
            code=None,
        )
    if kind != "json_schema":
        return
    schema = fmt.get("json_schema")
    if schema is None:
        raise _missing("response_format.json_schema")
    if not isinstance(schema, dict):
        raise _invalid_type("response_format.json_schema", "an object", schema)
    if "name" not in schema:
        raise _missing("response_format.json_schema.name")
    if not isinstance(schema["name"], str):
        raise _invalid_type("response_format.json_schema.name", "a string", schema["name"])
    if "schema" not in schema:
        raise _missing("response_format.json_schema.schema")
    if not isinstance(schema["schema"], dict):
        raise _invalid_type("response_format.json_schema.schema", "an object", schema["schema"])
    strict = schema.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _invalid_type("response_format.json_schema.strict", "a boolean", strict)


def _validate_stream(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid_type("stream", "a boolean", stream)
    options = body.get("stream_options")
    if options is None:
        return bool(stream), False
    if stream is not True:
        raise _ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code=None,
        )
    if not isinstance(options, dict):
        raise _invalid_type("stream_options", "an object", options)
    include_usage = options.get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise _invalid_type("stream_options.include_usage", "a boolean", include_usage)
    return True, bool(include_usage)


def _check_sampling_extras(body: dict[str, Any]) -> None:
    """The open-model servers' extra sampling knobs (only reachable where the rules allow them)."""
    top_k = body.get("top_k")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool):
            raise _invalid_type("top_k", "an integer", top_k)
        if top_k < -1:
            raise _ApiError(400, f"top_k must be -1 (disable), or at least 1, got {top_k}.", param="top_k")
    _check_range(body, "min_p", 0, 1)
    penalty = body.get("repetition_penalty")
    if penalty is not None and (not _is_number(penalty) or penalty <= 0):
        raise _ApiError(
            400, f"repetition_penalty must be greater than zero, got {penalty}.", param="repetition_penalty"
        )


def _validate_model(body: dict[str, Any], rules: ChatRules) -> str | None:
    """The requested model, checked only where the body's model matters."""
    if rules.models is None:
        return None
    model = body.get("model")
    if model is None:
        raise _ApiError(400, "you must provide a model parameter", param="model")
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    return model


def _validate_chat(body: Any, rules: ChatRules | None = None) -> _ChatRequest:
    rules = rules or ChatRules()
    if body is None:
        raise _ApiError(400, _PARSE_ERROR)
    if not isinstance(body, dict):
        raise _ApiError(400, f"Invalid type for request body: expected an object, but got {_describe(body)}.")
    if rules.reject_unknown:
        for key in body:
            if key not in rules.params:
                raise _ApiError(400, f"Unrecognized request argument supplied: {key}", param=key)
    model = _validate_model(body, rules)
    prompt_words, last_user, prompt_text = _validate_messages(body.get("messages"), rules.roles)

    max_tokens = _check_positive_int(body, "max_tokens")
    max_completion_tokens = _check_positive_int(body, "max_completion_tokens")
    if max_tokens is not None and max_completion_tokens is not None:
        raise _ApiError(
            400,
            "Invalid request: 'max_tokens' and 'max_completion_tokens' cannot both be set; "
            "use 'max_completion_tokens'.",
            param="max_tokens",
            code="invalid_value",
        )
    _check_range(body, "temperature", 0, 2 if rules.openai_limits else 100)
    _check_range(body, "top_p", 0, 1)
    _check_range(body, "presence_penalty", -2, 2)
    _check_range(body, "frequency_penalty", -2, 2)
    if "top_k" in rules.params:
        _check_sampling_extras(body)
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n != 1):
        raise _ApiError(
            400, f"Invalid 'n': only n=1 is supported, but got {n!r}.", param="n", code="invalid_value"
        )
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _invalid_type("stop", "one of a string or array of strings", stop)
        if rules.openai_limits and len(stop) > 4:
            raise _ApiError(
                400,
                "Invalid 'stop': array too long. Expected an array with maximum length 4, "
                f"but got an array with length {len(stop)} instead.",
                param="stop",
                code="array_above_max_length",
            )
    if "prompt_cache_key" in body and not isinstance(body["prompt_cache_key"], str):
        raise _invalid_type("prompt_cache_key", "a string", body["prompt_cache_key"])
    tool_names = _validate_tools(body)
    _validate_tool_choice(body, tool_names)
    _validate_response_format(body, prompt_text)
    stream, include_usage = _validate_stream(body)
    if rules.models is not None and model not in rules.models:
        raise _ApiError(404, rules.not_found.format(model=model), code="model_not_found")
    snapshot = (
        rules.models[model] if rules.models is not None and model is not None else rules.served_snapshot
    )
    return _ChatRequest(
        model=snapshot,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_completion_tokens if max_completion_tokens is not None else max_tokens,
        prompt_words=prompt_words,
        last_user_text=last_user,
        reasoning_effort=_check_reasoning_effort(body, snapshot) if rules.openai_limits else None,
    )


# --------------------------------------------------------------------------------------------------------
# Reply planning


@dataclass
class _ToolCall:
    id: str
    name: str
    arguments: str

    def fragments(self) -> list[str]:
        return fragments(self.arguments)


@dataclass
class _Reply:
    content: str | None
    content_chunks: list[str]
    tool_calls: list[_ToolCall]
    finish_reason: str
    prompt_tokens: int
    reasoning_chunks: list[str] = field(default_factory=list)
    refusal_chunks: list[str] = field(default_factory=list)
    hidden_reasoning: int = 0  # a reasoning model's thinking, in usage only
    # vLLM's usage has the three counts only (its UsageInfo: no completion_tokens_details, and
    # prompt_tokens_details null unless the server was started to report them).
    usage_details: bool = True

    @property
    def reasoning_tokens(self) -> int:
        return len(self.reasoning_chunks) + self.hidden_reasoning

    # Prompt tokens read from the account's prompt cache (OpenAI caches on its own).
    cached_tokens: int = 0

    @property
    def completion_tokens(self) -> int:
        # One "token" per stream chunk that carries part of the answer.
        return (
            self.reasoning_tokens
            + len(self.refusal_chunks)
            + len(self.content_chunks)
            + sum(1 + len(c.fragments()) for c in self.tool_calls)
        )

    def usage(self) -> dict[str, Any]:
        if not self.usage_details:
            return {
                "prompt_tokens": self.prompt_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "completion_tokens": self.completion_tokens,
                "prompt_tokens_details": None,
            }
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def _plan_reply(chat: _ChatRequest, behaviour: Behaviour, reasoning: str | None = None) -> _Reply:
    if behaviour.refusal is not None:
        # A refusal has no content and no tool calls, and still ends with "stop".
        return _Reply(
            content=None,
            content_chunks=[],
            tool_calls=[],
            finish_reason=behaviour.finish_reason or "stop",
            prompt_tokens=chat.prompt_words,
            refusal_chunks=word_chunks(behaviour.refusal),
        )
    calls = [_ToolCall(random_id("call_", 24), name, args) for name, args in behaviour.tool_calls]
    text: str | None = behaviour.reply_text
    if text is None and not calls:
        text = "You said: " + chat.last_user_text
    chunks = word_chunks(text) if text is not None else []
    finish = "tool_calls" if calls else "stop"
    if chat.max_tokens is not None and chat.max_tokens < len(chunks) and not behaviour.ignore_max_tokens:
        chunks = chunks[: chat.max_tokens]
        text = "".join(chunks)
        finish = "length"
    return _Reply(
        content=text,
        content_chunks=chunks,
        tool_calls=calls,
        finish_reason=behaviour.finish_reason or finish,
        prompt_tokens=chat.prompt_words,
        reasoning_chunks=word_chunks(reasoning) if reasoning else [],
        hidden_reasoning=_HIDDEN_REASONING.get(chat.reasoning_effort or "", 0),
    )


def _unary_body(
    completion_id: str, created: int, model: str, reply: _Reply, reasoning_field: str | None = None
) -> dict[str, Any]:
    refusal = "".join(reply.refusal_chunks) if reply.refusal_chunks else None
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": refusal}
    if reasoning_field and reply.reasoning_chunks:
        message[reasoning_field] = "".join(reply.reasoning_chunks)
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": reply.usage(),
        "system_fingerprint": "fp_sim",
    }


def _stream_payloads(
    completion_id: str,
    created: int,
    model: str,
    reply: _Reply,
    include_usage: bool,
    reasoning_field: str | None = None,
) -> list[dict[str, Any]]:
    """Every chunk of a stream, in order: role, reply chunks, finish, [usage] (no [DONE])."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_sim",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            obj["usage"] = None
        return obj

    payloads = [chunk({"role": "assistant", "content": "", "refusal": None})]
    if reasoning_field:
        payloads.extend(chunk({reasoning_field: piece}) for piece in reply.reasoning_chunks)
    payloads.extend(chunk({"refusal": piece}) for piece in reply.refusal_chunks)
    payloads.extend(chunk({"content": piece}) for piece in reply.content_chunks)
    for index, call in enumerate(reply.tool_calls):
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        payloads.append(chunk({"tool_calls": [head]}))
        payloads.extend(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
            for fragment in call.fragments()
        )
    payloads.append(chunk({}, reply.finish_reason))
    if include_usage:
        payloads.append(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_sim",
                "choices": [],
                "usage": reply.usage(),
            }
        )
    return payloads


def _rules(dialect: Dialect, models: Mapping[str, str]) -> ChatRules:
    if dialect == "vllm":
        return ChatRules(
            params=_KNOWN_PARAMS | _VLLM_PARAMS,
            roles=("system", "user", "assistant", "tool"),
            models=models,
            reject_unknown=False,
            openai_limits=False,
            not_found="The model `{model}` does not exist.",
        )
    if dialect == "together":
        return ChatRules(
            params=_KNOWN_PARAMS | _TOGETHER_PARAMS,
            roles=("system", "user", "assistant", "tool"),
            models=models,
            openai_limits=False,
            not_found="Unable to access model {model}. Please visit https://api.together.ai/models to view "
            "the list of supported models.",
        )
    return ChatRules(models=models)


# vLLM (FastAPI) names its errors after the exception class and puts the HTTP status in `code`.
_VLLM_ERROR_TYPES: Final = {400: "BadRequestError", 401: "Unauthorized", 404: "NotFoundError"}
_REASONING_FIELDS: Final[dict[str, str]] = {"vllm": "reasoning_content", "together": "reasoning"}


class OpenAISimulator(SimulatorServer):
    """An OpenAI Chat Completions upstream on 127.0.0.1 (see SimulatorServer for the observables).

    `dialect` picks the server imitated: "openai" (strict: unknown fields such as `top_k` are
    rejected), "vllm" (extra sampling fields, `GET /health`, no auth when api_key is None, unknown
    fields ignored and listed in `ignored_fields`) or "together" (extra sampling fields, a bare
    array from `GET /v1/models`). vLLM and Together refuse the `developer` role. Set `reasoning` to
    have vLLM / Together answer with that reasoning text (`reasoning_content` / `reasoning`).
    """

    name = "openai"

    def __init__(
        self,
        api_key: str | None = "sk-sim-test",
        host: str = "127.0.0.1",
        *,
        port: int = 0,
        dialect: Dialect = "openai",
        models: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(api_key, host, port=port)
        self.dialect: Dialect = dialect
        self.models: dict[str, str] = dict(models if models is not None else DIALECT_MODELS[dialect])
        self.reasoning: str | None = None
        # Top-level body fields a lenient server (vLLM) accepted but ignored, in arrival order.
        self.ignored_fields: list[str] = []
        self._chat_rules = _rules(dialect, self.models)
        self.embedding_models = dict(OPENAI_EMBEDDING_MODELS[dialect])
        # OpenAI's automatic prompt cache (the other dialects report none).
        self.prompt_cache = PromptCache()

    def reset(self) -> None:
        super().reset()
        self.reasoning = None
        self.ignored_fields.clear()
        self.prompt_cache.clear()

    def _cached_tokens(self, chat: _ChatRequest, body: dict[str, Any]) -> int:
        """What OpenAI's automatic cache serves of this prompt: the longest prefix seen before, per
        model and prompt_cache_key (which picks the cache machine), tools first."""
        if self.dialect != "openai":
            return 0
        scope = compact_json([chat.model, body.get("prompt_cache_key"), body.get("tools")])
        tokens: list[str] = []
        for message in body["messages"]:
            words = _content_text(message.get("content")).split()
            tokens.extend(f"{message['role']}:{word}" for word in words)
        return self.prompt_cache.automatic(scope, tokens)

    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        path, method = request.path, request.method
        if self.dialect == "vllm" and path in ("/health", "/version"):
            # vLLM's operational routes sit outside /v1 and need no key.
            if path == "/health":
                return await self.send_bytes(
                    request, exchange, 200, b"", {"Content-Type": "application/json"}
                )
            return await self.send_json(request, exchange, 200, {"version": "0.11.0"}, {})
        if path == "/v1/chat/completions":
            if method != "POST":
                return await self._send_error(
                    request, exchange, _ApiError(405, f"Invalid method for URL ({method} {path})")
                )
            return await self._chat(request, exchange, body)
        if path == "/v1/embeddings" and method == "POST":
            return await self._embeddings(request, exchange, body)
        if method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            try:
                self._check_auth(request)
            except _ApiError as err:
                return await self._send_error(request, exchange, err)
            return await self._models(request, exchange, path.removeprefix("/v1/models").lstrip("/"))
        return await self._send_error(request, exchange, _ApiError(404, f"Invalid URL ({method} {path})"))

    def _check_auth(self, request: web.BaseRequest) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("Authorization", "")
        provided = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        if self.dialect == "vllm":
            # vLLM's --api-key middleware answers a bare {"error": "Unauthorized"}.
            if not secrets.compare_digest(provided.encode(), self.api_key.encode()):
                raise _ApiError(401, "Unauthorized")
            return
        if not provided.strip():
            raise _ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
                "blank username) if you're accessing the API from your browser and are prompted for a "
                "username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        if not secrets.compare_digest(provided.encode(), self.api_key.encode()):
            raise _ApiError(
                401,
                f"Incorrect API key provided: {mask_key(provided)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _headers(self, exchange: Exchange, status: int, behaviour: Behaviour | None) -> dict[str, str]:
        headers = {
            "x-request-id": exchange.request_id,
            "openai-version": "2020-10-01",
            "openai-organization": "user-simulator",
            "openai-processing-ms": str(int((time.monotonic() - exchange.started) * 1000)),
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "0" if status == 429 else "9999",
            "x-ratelimit-reset-requests": "6ms",
        }
        if behaviour is not None and behaviour.retry_after is not None:
            headers["retry-after"] = behaviour.retry_after
            if status == 429 and behaviour.retry_after.replace(".", "", 1).isdigit():
                headers["x-ratelimit-reset-requests"] = f"{behaviour.retry_after}s"
        return headers

    async def _send_json(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        status: int,
        payload: object,
        behaviour: Behaviour | None = None,
    ) -> web.StreamResponse:
        headers = self._headers(exchange, status, behaviour)
        content_type = behaviour.content_type if behaviour is not None else None
        return await self.send_json(request, exchange, status, payload, headers, content_type)

    def _error_payload(self, err: _ApiError) -> dict[str, Any]:
        if self.dialect == "vllm":
            if err.status == 401:
                return {"error": err.message}
            return _error_envelope(
                err.message, _VLLM_ERROR_TYPES.get(err.status, "BadRequestError"), err.param, err.status
            )
        return err.body()

    async def _send_error(
        self,
        request: web.BaseRequest,
        exchange: Exchange,
        err: _ApiError,
        behaviour: Behaviour | None = None,
    ) -> web.StreamResponse:
        return await self._send_json(request, exchange, err.status, self._error_payload(err), behaviour)

    def _model_entries(self) -> list[dict[str, Any]]:
        created = 1700000000
        if self.dialect == "vllm":
            return [
                {"id": name, "object": "model", "created": created, "owned_by": "vllm", "root": name,
                 "parent": None, "max_model_len": 131072}
                for name in self.models
            ]  # fmt: skip
        if self.dialect == "together":
            return [
                {"id": name, "object": "model", "created": created, "type": "chat", "display_name": name,
                 "organization": name.split("/")[0], "context_length": 131072}
                for name in self.models
            ]  # fmt: skip
        return [
            {"id": name, "object": "model", "created": created, "owned_by": "openai"} for name in self.models
        ]

    async def _models(
        self, request: web.BaseRequest, exchange: Exchange, model_id: str
    ) -> web.StreamResponse:
        entries = {entry["id"]: entry for entry in self._model_entries()}
        if not model_id:
            # Together answers with a bare array; OpenAI and vLLM wrap it in a list object.
            listing: object = list(entries.values())
            if self.dialect != "together":
                listing = {"object": "list", "data": listing}
            return await self._send_json(request, exchange, 200, listing)
        if model_id in entries:
            return await self._send_json(request, exchange, 200, entries[model_id])
        err = _ApiError(404, f"The model '{model_id}' does not exist", param="model", code="model_not_found")
        return await self._send_error(request, exchange, err)

    # ---- the chat route, in steps a dialect (or a subclass such as Azure's) can change ----------

    def _validate(self, request: web.BaseRequest, body: Any) -> _ChatRequest:
        if not self._chat_rules.reject_unknown and isinstance(body, dict):
            self.ignored_fields.extend(key for key in body if key not in self._chat_rules.params)
        return _validate_chat(body, self._chat_rules)

    def _reasoning_field(self) -> str | None:
        return _REASONING_FIELDS.get(self.dialect)

    def _unary_payload(self, completion_id: str, created: int, model: str, reply: _Reply) -> dict[str, Any]:
        return _unary_body(completion_id, created, model, reply, self._reasoning_field())

    def _stream_frames(
        self, completion_id: str, created: int, model: str, reply: _Reply, include_usage: bool
    ) -> tuple[list[str], int]:
        """The `data:` payloads of a stream (ending with [DONE]) and how many precede the reply."""
        payloads = _stream_payloads(
            completion_id, created, model, reply, include_usage, self._reasoning_field()
        )
        return [*(compact_json(p) for p in payloads), "[DONE]"], 1

    def _forced_error_payload(self, behaviour: Behaviour) -> object:
        return behaviour.error_body or _error_envelope(
            behaviour.error_message, behaviour.error_type or "server_error", None, behaviour.error_code
        )

    async def _chat(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        wants_stream = isinstance(body, dict) and body.get("stream") is True
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.stall_after is not None and not wants_stream:
            await forever()
        # Injected failures come first: they model an upstream that is down or overloaded, which
        # answers before it ever looks at credentials or the payload.
        if behaviour.raw_body is not None:
            headers = self._headers(exchange, behaviour.status, behaviour)
            headers["Content-Type"] = behaviour.content_type or "application/json"
            return await self.send_bytes(request, exchange, behaviour.status, behaviour.raw_body, headers)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request)
            chat = self._validate(request, body)
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        reply = _plan_reply(chat, behaviour, self.reasoning if self._reasoning_field() else None)
        reply.cached_tokens = self._cached_tokens(chat, body)
        reply.usage_details = self.dialect != "vllm"
        completion_id = random_id("chatcmpl-", 29)
        created = int(time.time())
        if not chat.stream:
            return await self._send_json(
                request,
                exchange,
                200,
                self._unary_payload(completion_id, created, chat.model, reply),
                behaviour,
            )
        events, opening = self._stream_frames(completion_id, created, chat.model, reply, chat.include_usage)
        headers = self._headers(exchange, 200, behaviour)
        headers["Content-Type"] = behaviour.content_type or "text/event-stream; charset=utf-8"
        headers["Cache-Control"] = "no-cache"
        error = _error_envelope(
            behaviour.error_message, behaviour.error_type or "server_error", None, behaviour.error_code
        )
        return await self.stream(
            request,
            exchange,
            behaviour,
            [sse_event(data, behaviour, index) for index, data in enumerate(events)],
            reply_chunks=reply.completion_tokens,
            headers=headers,
            error_frame=sse_event(compact_json(error), behaviour, 0),
            opening_frames=opening,
        )

    async def _embeddings(
        self, request: web.BaseRequest, exchange: Exchange, body: Any, model_name: str | None = None
    ) -> web.StreamResponse:
        """`POST /v1/embeddings` (tests/upstreams/embeddings.py); `model_name` is Azure's
        deployment's model. Behaviours inject latency and failures as for chat."""
        behaviour = self.next_behaviour()
        if behaviour.latency > 0:
            await asyncio.sleep(behaviour.latency)
        if behaviour.raw_body is not None:
            headers = self._headers(exchange, behaviour.status, behaviour)
            headers["Content-Type"] = behaviour.content_type or "application/json"
            return await self.send_bytes(request, exchange, behaviour.status, behaviour.raw_body, headers)
        if behaviour.status != 200:
            return await self._send_forced_error(request, exchange, behaviour)
        try:
            self._check_auth(request)
            payload = openai_embeddings(
                body, self.embedding_models, dialect=self.dialect, model_name=model_name
            )
        except _ApiError as err:
            return await self._send_error(request, exchange, err, behaviour)
        except EmbeddingRefusedError as refused:
            refusal = _ApiError(refused.status, refused.message, param=refused.param, code=refused.code)
            return await self._send_error(request, exchange, refusal, behaviour)
        return await self._send_json(request, exchange, 200, payload, behaviour)

    async def _send_forced_error(
        self, request: web.BaseRequest, exchange: Exchange, behaviour: Behaviour
    ) -> web.StreamResponse:
        error_body = behaviour.error_body
        if isinstance(error_body, str):
            headers = self._headers(exchange, behaviour.status, behaviour)
            headers["Content-Type"] = behaviour.content_type or "application/json"
            return await self.send_bytes(request, exchange, behaviour.status, error_body.encode(), headers)
        payload = self._forced_error_payload(behaviour)
        return await self._send_json(request, exchange, behaviour.status, payload, behaviour)


# --------------------------------------------------------------------------------------------------------
# Standalone entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.upstreams.openai", description="Run the OpenAI Chat Completions simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dialect", choices=["openai", "vllm", "together"], default="openai")
    parser.add_argument(
        "--api-key",
        default="sk-sim-test",
        help="key required as 'Authorization: Bearer KEY' (default: %(default)s; pass '' to disable auth)",
    )
    args = parser.parse_args(argv)

    return serve_until_signalled(
        OpenAISimulator(api_key=args.api_key or None, host=args.host, port=args.port, dialect=args.dialect)
    )


if __name__ == "__main__":
    sys.exit(main())
