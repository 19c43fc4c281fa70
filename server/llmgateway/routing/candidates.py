"""The candidates of a model route for one request: its deployments whose provider passes its
probes (all of them when none does), that have what the request needs (tools, images, JSON-schema
output, the reasoning settings it asks for, a large enough context window). The route's balancer
(strategies.py) then orders them."""

from __future__ import annotations

from llmgateway.providers.openai_compat.dialects import DEFAULT_AZURE_API_VERSION
from llmgateway.reasoning import support
from llmgateway.reasoning.ask import requested as requested_reasoning
from llmgateway.routing import estimate
from llmgateway.routing.kinds import RoutedRequest
from llmgateway.routing.resolve import ModelRoute
from llmgateway.routing.strategies import RequestFacts
from llmgateway.routing.upstream import Upstream
from llmgateway.v1 import chat_pb2


def healthy_first(upstreams: list[Upstream]) -> list[Upstream]:
    """Upstreams whose provider passes its probes; all of them when none does, since a failing
    probe is a guess and a real call is the better test."""
    healthy = [u for u in upstreams if u.probe_passing]
    return healthy or upstreams


def reasoning_lacking(upstream: Upstream, request: chat_pb2.ChatRequest, requested: str) -> str:
    """What the upstream lacks to honour the request's reasoning settings ("" when nothing)."""
    ask = requested_reasoning(request)
    if ask is None:
        return ""
    deployment = upstream.deployment
    settings = deployment.provider_settings
    return support.lacking(
        settings.type,
        deployment.upstream_model(requested),
        upstream.settings.capabilities.reasoning,
        ask,
        api_version=(settings.api_version or DEFAULT_AZURE_API_VERSION)
        if settings.type == "azure_openai"
        else "",
    )


def capable(
    route: ModelRoute, request: RoutedRequest, facts: RequestFacts, min_context: int, requested: str
) -> tuple[list[Upstream], str, list[tuple[str, str]]]:
    """The route's upstreams that can serve the request (healthy first); when some cannot, what
    the last of those lacks; and what each deployment that cannot honour the request's reasoning
    settings lacks, as (deployment id, what). `min_context`: a context window a deployment
    already refused as too small, so only larger ones are candidates. `requested`: the model name
    a glob deployment substitutes. Embeddings need none of chat's capabilities: every deployment
    of an embedding model is a candidate."""
    if not isinstance(request, chat_pb2.ChatRequest):
        return healthy_first(route.upstreams), "", []
    needs_tools = bool(request.tools)
    needs_images = estimate.needs_images(request)
    needs_schema = request.generation_config.HasField("response_json_schema")
    wanted = facts.tokens
    found: list[Upstream] = []
    missing = ""
    reasoning: list[tuple[str, str]] = []
    for upstream in healthy_first(route.upstreams):
        caps = upstream.settings.capabilities
        lacks_reasoning = reasoning_lacking(upstream, request, requested)
        if lacks_reasoning:
            reasoning.append((upstream.id, lacks_reasoning))
        elif needs_tools and not caps.tools:
            missing = "tools"
        elif needs_images and not caps.images:
            missing = "images"
        elif needs_schema and not caps.json_schema:
            missing = "JSON-schema output"
        elif caps.context_window is not None and (
            caps.context_window < wanted or caps.context_window <= min_context
        ):
            missing = f"a context window of {max(wanted, min_context + 1)} tokens"
        else:
            found.append(upstream)
    return found, missing, reasoning
