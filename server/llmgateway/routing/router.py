"""The router: from a requested model to an answer, across deployments, retries and fallbacks.

It builds one config's routing and answers for it; each concern has its own module:
- resolve.py: the model a name means, after the rules (rules.py), and its fallback chain;
- candidates.py and strategies.py: which deployments can serve a request, in which order;
- attempts.py: the loop over candidates and fallbacks, with retries;
- upstream.py: one deployment's breaker, bulkhead, own limits, probe health and time limits;
- stream_handle.py: a stream from its first content to its settled end;
- telemetry.py: spans, metrics and the call's record.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable

from opentelemetry import trace

from llmgateway.config import GatewayConfig
from llmgateway.errors import GatewayError
from llmgateway.limits.backend import LimitBackend
from llmgateway.observability.call_record import record as current_record
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.providers.base import EmbedCall, Provider, UpstreamCall
from llmgateway.resilience.breaker import BreakerState, CircuitBreaker
from llmgateway.resilience.bulkhead import Bulkhead
from llmgateway.resilience.clock import Clock
from llmgateway.routing import counting
from llmgateway.routing.attempts import AttemptLoop, Declines
from llmgateway.routing.deployments import Deployment
from llmgateway.routing.kinds import RoutedRequest
from llmgateway.routing.report import RouteReport
from llmgateway.routing.resolve import ModelRoute, RouteTable
from llmgateway.routing.rules import Caller
from llmgateway.routing.strategies import Balancer, RequestFacts
from llmgateway.routing.stream_handle import StreamHandle
from llmgateway.routing.telemetry import AttemptSpan
from llmgateway.routing.upstream import Upstream
from llmgateway.v1 import chat_pb2, embeddings_pb2, models_pb2

# The servicer takes the report's type from here, with the router it comes from.
__all__ = ["ANONYMOUS", "RouteReport", "Router"]

ANONYMOUS = Caller()
# How an answer shows it declined (a refusal, a content filter): the policy of attempts.py.
_UNARY_DECLINES: Declines[chat_pb2.ChatResponse] = Declines(lambda response: response.finish_reason)
_STREAM_DECLINES: Declines[StreamHandle] = Declines(StreamHandle.opening_finish, StreamHandle.set_aside)


def build_routes(
    config: GatewayConfig,
    providers: dict[str, Provider],
    *,
    clock: Clock,
    rng: random.Random,
    limits: LimitBackend | None = None,
    metrics: GatewayMetrics | None = None,
) -> list[ModelRoute]:
    """Every configured model's route, with an upstream of its own for each of its deployments."""
    provider_settings = {p.name: p for p in config.providers}
    return [
        ModelRoute(
            model,
            [
                Upstream(
                    Deployment(d, providers[d.provider], provider_settings[d.provider]),
                    breaker=CircuitBreaker(config.routing.breaker, clock),
                    bulkhead=Bulkhead(d.limits.max_in_flight, d.limits.max_wait_s),
                    latency_alpha=config.routing.latency_ewma_alpha,
                    clock=clock,
                    limits=limits,
                    metrics=metrics,
                )
                for d in model.deployments
            ],
            Balancer(model.strategy, rng),
        )
        for model in config.models
    ]


class Router:
    """Routes calls for every configured model."""

    def __init__(
        self,
        config: GatewayConfig,
        providers: dict[str, Provider],
        *,
        clock: Clock,
        rng: random.Random,
        wall_clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        tracer: trace.Tracer | None = None,
        limits: LimitBackend | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        routes = build_routes(config, providers, clock=clock, rng=rng, limits=limits, metrics=metrics)
        # Every deployment's upstream, once: what readiness and the health monitor look at.
        self.upstreams = [upstream for route in routes for upstream in route.upstreams]
        self._table = RouteTable(routes, config.routing.rules, rng=rng, wall_clock=wall_clock)
        self._attempts = AttemptLoop(
            self._table,
            config.routing.retry,
            clock=clock,
            rng=rng,
            tracer=tracer or trace.get_tracer("llmgateway"),
        )

    # ---- what the rest of the gateway asks of routing -----------------------------------------

    def resolve(self, name: str) -> ModelRoute:
        """The route for a model name, alias or glob match; NOT_FOUND when none."""
        return self._table.resolve(name)

    def cache_scope(self, request: RoutedRequest, caller: Caller) -> str:
        """What routing decides for a call, as the response cache must know it (RouteTable)."""
        return self._table.cache_scope(request, caller)

    def open_until(self, name: str) -> float | None:
        """When every deployment of the model and its fallbacks has an open breaker: seconds until
        the first lets a probe through. None when some deployment is usable (or the model is
        unknown: the servicer reports that)."""
        try:
            route = self._table.resolve(name)
        except GatewayError:
            return None
        upstreams = [u for r in self._table.chain(route) for u in r.upstreams]
        if any(u.breaker_state is not BreakerState.OPEN for u in upstreams):
            return None
        return min(u.retry_in() for u in upstreams)

    def configured_name(self, name: str) -> str | None:
        """The configured model a requested name (alias, glob match) resolves to, as calls are
        labelled in metrics and logs; None for a name no model serves."""
        try:
            return self._table.resolve(name).name
        except GatewayError:
            return None

    def describe(self) -> list[models_pb2.Model]:
        """Every configured model as ListModels shows it, sorted by name."""
        return [
            models_pb2.Model(
                name=route.name,
                aliases=route.settings.aliases,
                providers=sorted({u.provider_name for u in route.upstreams}),
            )
            for route in sorted(self._table.routes, key=lambda r: r.name)
        ]

    def usable(self) -> bool:
        """Whether any model has a deployment that would take a call now (readiness)."""
        return any(upstream.usable for upstream in self.upstreams)

    def upstreams_of(self, provider: str) -> list[Upstream]:
        """The upstreams of a provider's deployments (whom its health probes concern)."""
        return [upstream for upstream in self.upstreams if upstream.provider_name == provider]

    # ---- token counts ---------------------------------------------------------------------------

    async def count_tokens(
        self, request: chat_pb2.ChatRequest, requested: str, request_id: str, caller: Caller = ANONYMOUS
    ) -> tuple[chat_pb2.CountTokensResponse, RouteReport]:
        """The input tokens of `request`, counted on a deployment the rules and strategy pick
        (routing/counting.py says what a count leaves out of a chat call's routing)."""
        route = self._table.decide(
            request, requested, RequestFacts.of(request, stream=False).prompt_tokens, caller
        )[0]
        return await counting.count_tokens(route, request, requested, request_id)

    # ---- unary and streaming ----------------------------------------------------------------

    async def chat(
        self,
        request: chat_pb2.ChatRequest,
        requested: str,
        request_id: str,
        deadline: float | None,
        caller: Caller = ANONYMOUS,
    ) -> tuple[chat_pb2.ChatResponse, RouteReport]:
        """One complete answer, from the first deployment that gives one."""
        facts = RequestFacts.of(request, stream=False)

        async def call_one(upstream: Upstream, model: str, span: AttemptSpan) -> chat_pb2.ChatResponse:
            response = await upstream.chat(UpstreamCall(request, model, request_id))
            span.answered(response)
            span.end()
            await upstream.settle(facts.tokens, response.usage)
            return response

        return await self._attempts.run(
            request,
            facts,
            call_one,
            requested=requested,
            request_id=request_id,
            deadline=deadline,
            caller=caller,
            declines=_UNARY_DECLINES,
        )

    async def open_stream(
        self,
        request: chat_pb2.ChatRequest,
        requested: str,
        request_id: str,
        deadline: float | None,
        caller: Caller = ANONYMOUS,
    ) -> tuple[StreamHandle, RouteReport]:
        """A stream that has produced its first content, from the first deployment that does."""
        facts = RequestFacts.of(request, stream=True)

        async def call_one(upstream: Upstream, model: str, span: AttemptSpan) -> StreamHandle:
            first = await upstream.open_stream(UpstreamCall(request, model, request_id))
            span.first_token()
            return StreamHandle(
                upstream,
                first,
                span,
                prompt_tokens=facts.prompt_tokens,
                estimated_tokens=facts.tokens,
                record=current_record(),
            )

        return await self._attempts.run(
            request,
            facts,
            call_one,
            requested=requested,
            request_id=request_id,
            deadline=deadline,
            caller=caller,
            declines=_STREAM_DECLINES,
        )

    async def embed(
        self,
        request: embeddings_pb2.EmbedRequest,
        requested: str,
        request_id: str,
        deadline: float | None,
        caller: Caller = ANONYMOUS,
    ) -> tuple[embeddings_pb2.EmbedResponse, RouteReport]:
        """Every input's embedding, from the first deployment that gives them all."""
        facts = RequestFacts.of_embedding(request)

        async def call_one(upstream: Upstream, model: str, span: AttemptSpan) -> embeddings_pb2.EmbedResponse:
            response = await upstream.embed(EmbedCall(request, model, request_id))
            span.embedded(response)
            span.end()
            await upstream.settle(facts.tokens, response.usage)
            return response

        return await self._attempts.run(
            request,
            facts,
            call_one,
            requested=requested,
            request_id=request_id,
            deadline=deadline,
            caller=caller,
        )
