"""The candidates of a model route for one request: its deployments whose provider passes its
probes (all of them when none does), that have what the request needs (tools, images, JSON-schema
output, a large enough context window). The route's balancer (strategies.py) then orders them."""

from __future__ import annotations

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


def capable(
    route: ModelRoute, request: RoutedRequest, facts: RequestFacts, min_context: int
) -> tuple[list[Upstream], str]:
    """The route's upstreams that can serve the request (healthy first), and, when some cannot,
    what the last of those lacks. `min_context`: a context window a deployment already refused
    as too small, so only larger ones are candidates. Embeddings need none of chat's
    capabilities: every deployment of an embedding model is a candidate."""
    if not isinstance(request, chat_pb2.ChatRequest):
        return healthy_first(route.upstreams), ""
    needs_tools = bool(request.tools)
    needs_images = estimate.needs_images(request)
    needs_schema = request.generation_config.HasField("response_json_schema")
    wanted = facts.tokens
    found, missing = [], ""
    for upstream in healthy_first(route.upstreams):
        caps = upstream.settings.capabilities
        if needs_tools and not caps.tools:
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
    return found, missing
