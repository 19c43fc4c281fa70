"""The candidates of a route for one request (routing/candidates.py): capabilities, context
windows and probe health, without a server."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from llmgateway.providers.base import Provider
from llmgateway.routing.candidates import capable
from llmgateway.routing.resolve import ModelRoute
from llmgateway.routing.strategies import RequestFacts
from llmgateway.v1 import chat_pb2, content_pb2
from tests.routing.fakes import FakeProvider, config, request, route_table

PROVIDERS: dict[str, Provider] = {name: FakeProvider(name) for name in ("pa", "pb")}


def route(*capabilities: dict[str, Any]) -> ModelRoute:
    deployments = [
        {"provider": provider, "model": "x", "capabilities": caps}
        for provider, caps in zip(("pa", "pb"), capabilities, strict=False)
    ]
    return route_table(config([{"name": "m", "deployments": deployments}], ["pa", "pb"]), PROVIDERS).resolve(
        "m"
    )


def ids(found: tuple[list[Any], str, Any]) -> tuple[list[str], str]:
    return [u.id for u in found[0]], found[1]


def facts(request: chat_pb2.ChatRequest) -> RequestFacts:
    return RequestFacts.of(request, stream=False)


def test_every_deployment_serves_a_plain_request() -> None:
    plain = request()
    assert ids(capable(route({}, {}), plain, facts(plain), 0, "m")) == (["pa/x", "pb/x"], "")


def test_features_a_deployment_lacks_keep_it_out_and_are_named() -> None:
    with_tools = request(tools=[content_pb2.Tool(name="lookup")])
    assert ids(capable(route({"tools": False}, {}), with_tools, facts(with_tools), 0, "m")) == (
        ["pb/x"],
        "tools",
    )
    image = content_pb2.Message(
        role=content_pb2.ROLE_USER, parts=[content_pb2.Part(media=content_pb2.Media(uri="https://x/y.png"))]
    )
    with_image = chat_pb2.ChatRequest(messages=[image])
    no_images = route({"images": False}, {"images": False})
    assert ids(capable(no_images, with_image, facts(with_image), 0, "m")) == ([], "images")
    schema = chat_pb2.GenerationConfig(response_json_schema=struct_pb2.Struct())
    with_schema = request(generation_config=schema)
    assert ids(capable(route({}, {"json_schema": False}), with_schema, facts(with_schema), 0, "m")) == (
        ["pa/x"],
        "JSON-schema output",
    )


def test_a_context_window_must_hold_the_prompt_and_the_output_and_beat_one_that_failed() -> None:
    small_and_large = route({"context_window": 1000}, {"context_window": 8000})
    capped = request(generation_config=chat_pb2.GenerationConfig(max_output_tokens=500))
    assert ids(capable(small_and_large, capped, facts(capped), 0, "m")) == (["pa/x", "pb/x"], "")
    uncapped = request()  # a typical answer (1000 tokens) is assumed: more than the small window
    assert ids(capable(small_and_large, uncapped, facts(uncapped), 0, "m")) == (
        ["pb/x"],
        f"a context window of {facts(uncapped).tokens} tokens",
    )
    # A deployment with an 8000-token window said the prompt was too long: only larger ones remain.
    assert ids(capable(small_and_large, capped, facts(capped), 8000, "m")) == (
        [],
        "a context window of 8001 tokens",
    )


def test_deployments_failing_their_probes_are_left_out_unless_all_are() -> None:
    both = route({}, {})
    plain = request()
    both.upstreams[0].record_probe(passed=False)
    assert ids(capable(both, plain, facts(plain), 0, "m")) == (["pb/x"], "")
    both.upstreams[1].record_probe(passed=False)
    assert ids(capable(both, plain, facts(plain), 0, "m")) == (["pa/x", "pb/x"], ""), "a probe is a guess"
    both.upstreams[0].record_probe(passed=True)
    assert ids(capable(both, plain, facts(plain), 0, "m")) == (["pa/x"], "")
