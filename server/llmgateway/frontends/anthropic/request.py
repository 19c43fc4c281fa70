"""A Messages API request (headers and JSON body) as a v1 ChatRequest, strictly: an unknown
parameter, or one v1 cannot carry, is a 400 naming it, never dropped.

`anthropic-version` is required, as by the API. Under 2026-10-21 the API refuses `temperature`,
`top_p` and `top_k`, and so does this door; under 2023-06-01 they are accepted and carried."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import struct_pb2

from llmgateway.errors import shown
from llmgateway.frontends.anthropic.content import conversation, system_message
from llmgateway.frontends.anthropic.errors import invalid, not_carried
from llmgateway.frontends.anthropic.tools import tool_choice, tools
from llmgateway.frontends.anthropic.wire import (
    JsonObject,
    at,
    boolean,
    integer,
    json_list,
    json_object,
    number,
    only_keys,
    present,
    required,
    string,
)
from llmgateway.reasoning.ask import ReasoningAsk, ask_in
from llmgateway.v1 import chat_pb2

VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")
_WITHOUT_SAMPLING = "2026-10-21"
_SAMPLING = ("temperature", "top_p", "top_k")
# Headers of the API that ask for what v1 cannot carry: beta features, Anthropic's own workspaces.
_UNCARRIED_HEADERS = ("anthropic-beta", "anthropic-workspace-id", "anthropic-user-profile-id")
_ACCEPTED = (
    "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p",
    "top_k", "tools", "tool_choice", "metadata", "thinking", "output_config",
)  # fmt: skip
# The API's parameters that v1 has no field for.
_UNCARRIED = (
    "cache_control", "container", "context_management", "diagnostics", "inference_geo", "mcp_servers",
    "service_tier", "speed",
)  # fmt: skip
# What POST /v1/messages/count_tokens takes, as the API: the prompt and what adds to it; max_tokens,
# stream, sampling and the rest only shape an answer, and the API refuses them there.
_COUNT_ACCEPTED = ("model", "messages", "system", "tools", "tool_choice", "thinking", "output_config")
_COUNT_UNCARRIED = ("context_management", "mcp_servers")
# metadata.user_id becomes this label: in logs, routing rules and cost attribution, not sent upstream.
USER_LABEL = "user"


def api_version(headers: Mapping[str, str]) -> str:
    """The request's `anthropic-version`, after refusing the headers v1 cannot honour."""
    version = headers.get("anthropic-version")
    if version is None:
        raise invalid("anthropic-version", "header is required")
    if version not in VERSIONS:
        raise invalid(
            "anthropic-version",
            f"invalid version {shown(version, 32)!r} (this gateway takes {', '.join(VERSIONS)})",
        )
    for header in _UNCARRIED_HEADERS:
        if header in headers:
            raise not_carried(header)
    return version


def chat_request(body: object, version: str) -> tuple[chat_pb2.ChatRequest, bool]:
    """The v1 request for a Messages API body, and whether it asks for a stream."""
    if not isinstance(body, dict):
        raise invalid("body", "the request body must be a JSON object")
    only_keys("", body, _ACCEPTED, _UNCARRIED)
    if version >= _WITHOUT_SAMPLING:
        for name in _SAMPLING:
            if name in body:
                raise invalid(
                    name,
                    f"not accepted with anthropic-version {version} (send anthropic-version: 2023-06-01 to set it)",
                )
    request = _prompt(body)
    _generation(body, request.generation_config)
    _thinking(body, request)
    if present(body, "metadata"):
        metadata = json_object("metadata", body["metadata"])
        only_keys("metadata", metadata, ("user_id",))
        if present(metadata, "user_id"):
            request.labels[USER_LABEL] = string("metadata.user_id", metadata["user_id"])
    stream = boolean("stream", body["stream"]) if present(body, "stream") else False
    return request, stream


def count_request(body: object) -> chat_pb2.CountTokensRequest:
    """The v1 CountTokensRequest for a count_tokens body."""
    if not isinstance(body, dict):
        raise invalid("body", "the request body must be a JSON object")
    only_keys("", body, _COUNT_ACCEPTED, _COUNT_UNCARRIED)
    request = _prompt(body)
    _thinking(body, request)  # thinking settings change the prompt the provider counts
    _output_config(body, request.generation_config)
    # The same fields under the same numbers: one wire form.
    return chat_pb2.CountTokensRequest.FromString(request.SerializeToString())


def _prompt(body: JsonObject) -> chat_pb2.ChatRequest:
    """The model, system, messages, tools and tool choice of a Messages (or count_tokens) body."""
    request = chat_pb2.ChatRequest(model=string("model", required("", body, "model"), non_empty=True))
    if present(body, "system"):
        system = system_message(body["system"])
        if system is not None:
            request.messages.append(system)
    request.messages.extend(conversation(required("", body, "messages")))
    if present(body, "tools"):
        request.tools.extend(tools(body["tools"]))
    if present(body, "tool_choice"):
        request.tool_choice.CopyFrom(tool_choice(body["tool_choice"]))
    return request


def _thinking(body: JsonObject, request: chat_pb2.ChatRequest) -> None:
    """`thinking: {type: enabled, budget_tokens}` asks for reasoning with that budget, thoughts
    returned; `{type: disabled}` asks for nothing (the default of Anthropic's models)."""
    if not present(body, "thinking"):
        return
    thinking = json_object("thinking", body["thinking"])
    kind = required("thinking", thinking, "type")
    if kind == "disabled":
        only_keys("thinking", thinking, ("type",))
        return
    if kind != "enabled":
        raise invalid(
            "thinking.type", "Input tag does not match any of the expected tags: 'enabled', 'disabled'"
        )
    only_keys("thinking", thinking, ("type", "budget_tokens"))
    budget = integer(
        "thinking.enabled.budget_tokens", required("thinking", thinking, "budget_tokens"), minimum=1024
    )
    ask_in(request, ReasoningAsk(budget_tokens=budget, include_thoughts=True))


def _generation(body: JsonObject, config: chat_pb2.GenerationConfig) -> None:
    config.max_output_tokens = integer("max_tokens", required("", body, "max_tokens"), minimum=1)
    if present(body, "temperature"):
        config.temperature = number("temperature", body["temperature"], low=0.0, high=1.0)
    if present(body, "top_p"):
        top_p = number("top_p", body["top_p"], low=0.0, high=1.0)
        if top_p == 0:
            raise invalid("top_p", "Input should be greater than 0")
        config.top_p = top_p
    if present(body, "top_k"):
        config.top_k = integer("top_k", body["top_k"], minimum=1)
    if present(body, "stop_sequences"):
        for i, stop in enumerate(json_list("stop_sequences", body["stop_sequences"])):
            config.stop_sequences.append(string(at("stop_sequences", i), stop, non_empty=True))
    _output_config(body, config)


def _output_config(body: JsonObject, config: chat_pb2.GenerationConfig) -> None:
    if present(body, "output_config"):
        output = json_object("output_config", body["output_config"])
        only_keys("output_config", output, ("format",), ("effort",))
        if present(output, "format"):
            config.response_json_schema.CopyFrom(_json_schema(output["format"]))


def _json_schema(value: object) -> struct_pb2.Struct:
    fmt = json_object("output_config.format", value)
    only_keys("output_config.format", fmt, ("type", "schema"))
    if required("output_config.format", fmt, "type") != "json_schema":
        raise invalid("output_config.format.type", "Input should be 'json_schema'")
    schema = struct_pb2.Struct()
    schema.update(json_object("output_config.format.schema", required("output_config.format", fmt, "schema")))
    return schema
