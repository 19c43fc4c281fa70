"""An OpenAI Chat Completions request body → a v1 ChatRequest, strictly: every parameter is either
translated, accepted because its value asks for nothing beyond the default (`n: 1`,
`logprobs: false`, ...), or refused with a 400 naming it. Nothing is dropped silently.

How each parameter maps is README's table ("Use it from the OpenAI SDK"); the notes here say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from google.protobuf import struct_pb2

from llmgateway.frontends.openai.messages import to_v1_messages
from llmgateway.frontends.openai.params import (
    JsonObject,
    a_bool,
    a_list,
    a_number,
    a_string,
    an_int,
    an_object,
    invalid_type,
    invalid_value,
    missing,
    not_supported,
    only_known,
    refused,
)
from llmgateway.reasoning.ask import EFFORTS, ReasoningAsk, ask_in
from llmgateway.v1 import chat_pb2, content_pb2

# Parameters v1 cannot carry, and what they would ask for. A null is always accepted; so is a value
# in _DEFAULTS, which asks for what the gateway does anyway.
_NOT_CARRIED = {
    "n": "several choices (v1 answers with one)",
    "logprobs": "log probabilities",
    "top_logprobs": "log probabilities",
    "logit_bias": "logit bias",
    "audio": "audio output (v1 answers are text)",
    "modalities": "output modalities other than text",
    "prediction": "predicted outputs",
    "verbosity": "a verbosity level",
    "web_search_options": "web search",
    "store": "stored completions",
    "service_tier": "service tiers",
    "safety_identifier": "safety identifiers",
    "functions": "the deprecated 'functions' (use tools)",
    "function_call": "the deprecated 'function_call' (use tool_choice)",
}
_DEFAULTS: dict[str, tuple[object, ...]] = {
    "n": (1,),
    "logprobs": (False,),
    "store": (False,),
    "modalities": (["text"],),
    "service_tier": ("auto",),
}
_TRANSLATED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
        "metadata",
        "reasoning_effort",
        "prompt_cache_key",
    }
)
_KNOWN = _TRANSLATED | frozenset(_NOT_CARRIED)
_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")  # what v1 accepts as a request_id
_TOOL_CHOICE_MODES = {
    "auto": content_pb2.ToolChoice.MODE_AUTO,
    "none": content_pb2.ToolChoice.MODE_NONE,
    "required": content_pb2.ToolChoice.MODE_REQUIRED,
}
USER_LABEL = "user"  # the label `user` (the end user's id) travels in
_V1_PATH = re.compile(r"^(messages|tools)\[(\d+)\](.*)$")


@dataclass
class ChatCall:
    """A translated request: the v1 request, how to answer, and how to name v1 paths in errors."""

    request: chat_pb2.ChatRequest
    stream: bool = False
    include_usage: bool = False
    origins: list[int] = field(default_factory=list)  # v1 message index → OpenAI message index
    names: dict[str, str] = field(default_factory=dict)  # v1 field path → OpenAI parameter

    def wire_param(self, path: str) -> str:
        """The OpenAI parameter a v1 field path (a core validation error's) came from."""
        if path in self.names:
            return self.names[path]
        found = _V1_PATH.match(path)
        if found is None:
            return next((p for v1, p in self.names.items() if path.startswith(v1)), path)
        kind, index, rest = found.group(1), int(found.group(2)), found.group(3)
        if kind == "messages":
            return f"messages[{self.origins[index] if index < len(self.origins) else index}]"
        return f"tools[{index}].function" + (f".{rest.lstrip('.')}" if rest else "")


def _schema(param: str, value: object) -> struct_pb2.Struct:
    schema = struct_pb2.Struct()
    schema.update(an_object(param, value))
    return schema


def _response_format(call: ChatCall, value: object) -> None:
    response_format = an_object("response_format", value)
    kind = response_format.get("type")
    config = call.request.generation_config
    if kind == "text":
        only_known("response_format", response_format, frozenset({"type"}))
    elif kind == "json_object":
        only_known("response_format", response_format, frozenset({"type"}))
        config.response_json_object = True
    elif kind == "json_schema":
        only_known("response_format", response_format, frozenset({"type", "json_schema"}))
        spec = an_object("response_format.json_schema", response_format.get("json_schema"))
        where = "response_format.json_schema"
        only_known(where, spec, frozenset({"name", "schema", "strict", "description"}))
        if spec.get("name") is None:
            raise missing(f"{where}.name")
        config.response_json_schema_name = a_string(f"{where}.name", spec["name"])
        if spec.get("description") is not None:
            raise not_supported(f"{where}.description", "schema descriptions (v1 carries the schema only)")
        if spec.get("strict") is not None:
            config.response_json_schema_strict = a_bool(f"{where}.strict", spec["strict"])
        config.response_json_schema.CopyFrom(_schema(f"{where}.schema", spec.get("schema") or {}))
        call.names["generation_config.response_json_schema"] = f"{where}.schema"
    else:
        raise invalid_value("response_format.type", kind, "Expected 'text', 'json_object' or 'json_schema'.")


def _tools(call: ChatCall, value: object) -> None:
    for index, item in enumerate(a_list("tools", value)):
        path = f"tools[{index}]"
        tool = an_object(path, item)
        if tool.get("type") == "custom":
            raise not_supported(f"{path}.type", "custom tools (v1 tools are functions)")
        if tool.get("type") != "function":
            raise invalid_value(f"{path}.type", tool.get("type"), "Expected 'function'.")
        only_known(path, tool, frozenset({"type", "function"}))
        function = an_object(f"{path}.function", tool.get("function"))
        only_known(f"{path}.function", function, frozenset({"name", "description", "parameters", "strict"}))
        if function.get("name") is None:
            raise missing(f"{path}.function.name")
        converted = content_pb2.Tool(name=a_string(f"{path}.function.name", function["name"]))
        if function.get("description") is not None:
            converted.description = a_string(f"{path}.function.description", function["description"])
        if function.get("parameters") is not None:
            converted.parameters.CopyFrom(_schema(f"{path}.function.parameters", function["parameters"]))
        if function.get("strict") is not None:
            converted.strict = a_bool(f"{path}.function.strict", function["strict"])
        call.request.tools.append(converted)


def _tool_choice(call: ChatCall, value: object) -> None:
    choice = call.request.tool_choice
    call.names["tool_choice"] = "tool_choice"
    if isinstance(value, str):
        if value not in _TOOL_CHOICE_MODES:
            raise invalid_value("tool_choice", value, "Expected 'none', 'auto', 'required' or a function.")
        choice.mode = _TOOL_CHOICE_MODES[value]
        return
    named = an_object("tool_choice", value)
    if named.get("type") in ("allowed_tools", "custom"):
        raise not_supported("tool_choice.type", f"'{named.get('type')}' tool choices")
    if named.get("type") != "function":
        raise invalid_value("tool_choice.type", named.get("type"), "Expected 'function'.")
    only_known("tool_choice", named, frozenset({"type", "function"}))
    function = an_object("tool_choice.function", named.get("function"))
    only_known("tool_choice.function", function, frozenset({"name"}))
    choice.mode = content_pb2.ToolChoice.MODE_TOOL
    choice.tool_name = a_string("tool_choice.function.name", function.get("name"))


def _max_tokens(call: ChatCall, body: JsonObject) -> None:
    given = [name for name in ("max_completion_tokens", "max_tokens") if body.get(name) is not None]
    if len(given) > 1:
        raise invalid_value("max_tokens", "both", "Set max_tokens or max_completion_tokens, not both.")
    if given:
        name = given[0]
        call.request.generation_config.max_output_tokens = an_int(name, body[name])
        call.names["generation_config.max_output_tokens"] = name


def _sampling(call: ChatCall, body: JsonObject) -> None:
    config = call.request.generation_config
    for name in _SAMPLING:
        if body.get(name) is not None:
            setattr(config, name, a_number(name, body[name]))
            call.names[f"generation_config.{name}"] = name
    if body.get("seed") is not None:
        config.seed = an_int("seed", body["seed"])
    stop = body.get("stop")
    if isinstance(stop, str):
        config.stop_sequences.append(stop)
    elif stop is not None:
        config.stop_sequences.extend(a_string(f"stop[{i}]", s) for i, s in enumerate(a_list("stop", stop)))
    call.names["generation_config.stop_sequences"] = "stop"


def _labels(call: ChatCall, body: JsonObject) -> None:
    """`metadata`, `user` and `prompt_cache_key` become v1 labels: the gateway's own key-value pairs for routing rules,
    logs and cost attribution, which is what they are for on OpenAI's side of the API too."""
    labels = call.request.labels
    metadata = body.get("metadata")
    if metadata is not None:
        for key, value in an_object("metadata", metadata).items():
            labels[key] = a_string(f"metadata.{key}", value)
            call.names[f"labels[{key[:64]}]"] = "metadata"
    if body.get("user") is not None:
        user = a_string("user", body["user"])
        if labels.get(USER_LABEL, user) != user:
            raise refused("user", "'user' and metadata.user disagree; send the end user's id once.")
        labels[USER_LABEL] = user
        call.names[f"labels[{USER_LABEL}]"] = "user"
    if body.get("prompt_cache_key") is not None:
        call.request.generation_config.prompt_cache_key = a_string(
            "prompt_cache_key", body["prompt_cache_key"]
        )
        call.names["generation_config.prompt_cache_key"] = "prompt_cache_key"


def _reasoning_effort(call: ChatCall, body: JsonObject) -> None:
    effort = body.get("reasoning_effort")
    if effort is None:
        return
    if effort not in EFFORTS:
        supported = ", ".join(f"'{e}'" for e in EFFORTS)
        raise invalid_value("reasoning_effort", effort, f"Supported values are: {supported}.")
    ask_in(call.request, ReasoningAsk(effort=effort))
    call.names["generation_config.reasoning.effort"] = "reasoning_effort"


def _stream(call: ChatCall, body: JsonObject) -> None:
    stream = body.get("stream")
    call.stream = stream is not None and a_bool("stream", stream)
    options = body.get("stream_options")
    if options is None:
        return
    if not call.stream:
        raise refused(
            "stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        )
    options = an_object("stream_options", options)
    only_known("stream_options", options, frozenset({"include_usage", "include_obfuscation"}))
    if options.get("include_obfuscation"):
        raise not_supported("stream_options.include_obfuscation", "obfuscation padding")
    usage = options.get("include_usage")
    call.include_usage = usage is not None and a_bool("stream_options.include_usage", usage)


def _not_carried(body: JsonObject) -> None:
    for name, what in _NOT_CARRIED.items():
        value = body.get(name)
        # Compared with their types: `n: true` equals 1 in Python, but is no `n: 1`.
        if value is not None and not any(
            value == default and type(value) is type(default) for default in _DEFAULTS.get(name, ())
        ):
            raise not_supported(name, what)


def to_v1(body: object, request_id: str) -> ChatCall:
    """The v1 call a Chat Completions body asks for; INVALID_REQUEST naming the first bad parameter."""
    if not isinstance(body, dict):
        raise invalid_type("body", "an object", body)
    only_known("", body, _KNOWN)
    _not_carried(body)
    model = body.get("model")
    if model is None:
        raise missing("model")
    messages, origins = to_v1_messages(body.get("messages"))
    request = chat_pb2.ChatRequest(model=a_string("model", model), messages=messages)
    if _REQUEST_ID.match(request_id):
        request.request_id = request_id
    call = ChatCall(request=request, origins=origins)
    _stream(call, body)
    _max_tokens(call, body)
    _sampling(call, body)
    if body.get("tools") is not None:
        _tools(call, body["tools"])
    if body.get("tool_choice") is not None:
        _tool_choice(call, body["tool_choice"])
    if body.get("parallel_tool_calls") is not None:
        # true is every provider's default; false is v1's disable_parallel_tool_calls.
        parallel = a_bool("parallel_tool_calls", body["parallel_tool_calls"])
        call.request.tool_choice.disable_parallel_tool_calls = not parallel
        call.names["tool_choice.disable_parallel_tool_calls"] = "parallel_tool_calls"
    if body.get("response_format") is not None:
        _response_format(call, body["response_format"])
    _labels(call, body)
    _reasoning_effort(call, body)
    return call
