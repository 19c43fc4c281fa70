"""A token count routed like a chat call, but lighter: the model and the routing rules decide the
deployments, the strategy orders them, and the first that answers counts (its provider's counting
endpoint, or the gateway's local estimate; providers/base.Provider.count_tokens).

What a count does not do, and why: no retries with backoff and no fallback models (a count is a
quick, free question; the next deployment on an outage is enough), no deployment RPM/TPM (counting
endpoints have their own provider limits, apart from generation's, and a count generates nothing),
and no breaker bookkeeping (a failing counting endpoint says nothing about generation, so it must not
take a deployment off chat calls); an open breaker is still respected, as the deployment's provider
is then known to be failing. The bulkhead and the provider's time limit apply as to any call.
"""

from __future__ import annotations

import asyncio

from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import record as current_record
from llmgateway.providers.base import UpstreamCall
from llmgateway.reasons import Reason
from llmgateway.resilience.breaker import BreakerState
from llmgateway.resilience.bulkhead import BulkheadFullError
from llmgateway.routing.attempts import bulkhead_full
from llmgateway.routing.candidates import healthy_first
from llmgateway.routing.classify import tries_next_deployment
from llmgateway.routing.report import Attempt, RouteReport
from llmgateway.routing.resolve import ModelRoute
from llmgateway.routing.strategies import RequestFacts
from llmgateway.routing.telemetry import attempt_started, count_attempt, served_by
from llmgateway.routing.upstream import Upstream
from llmgateway.v1 import chat_pb2


async def _count_on(upstream: Upstream, call: UpstreamCall) -> chat_pb2.CountTokensResponse:
    """One deployment's count, in a bulkhead slot and within its provider's `total_s`."""
    provider, total_s = upstream.deployment.provider, upstream.deployment.provider_settings.timeouts.total_s
    try:
        async with upstream.bulkhead.slot(), asyncio.timeout(total_s):
            counted = await provider.count_tokens(call)
    except BulkheadFullError:
        raise bulkhead_full(upstream) from None
    except TimeoutError:
        raise GatewayError(
            Reason.UPSTREAM_TIMEOUT,
            f"provider {provider.name!r} did not count within {total_s:g}s",
            metadata={"provider": provider.name},
        ) from None
    counted.provider = provider.name
    return counted


async def count_tokens(
    route: ModelRoute, request: chat_pb2.ChatRequest, requested: str, request_id: str
) -> tuple[chat_pb2.CountTokensResponse, RouteReport]:
    """The count of the first of `route`'s deployments that gives one, with the report of every
    attempt; else the last attempt's error (BREAKER_OPEN when every breaker is open)."""
    report = RouteReport(route.name)
    observed = current_record()
    facts = RequestFacts.of(request, stream=False)
    upstream_name = requested
    last_error: GatewayError | None = None
    for upstream in route.balancer.order(healthy_first(route.upstreams), facts, upstream_name):
        if upstream.breaker_state is BreakerState.OPEN:
            report.attempts.append(Attempt(upstream.id, "BREAKER_OPEN"))
            continue
        attempt_started(observed, upstream, requested, facts.prompt_tokens)
        call = UpstreamCall(request, upstream.deployment.upstream_model(upstream_name), request_id)
        try:
            counted = await _count_on(upstream, call)
        except GatewayError as error:
            report.attempts.append(Attempt(upstream.id, error.reason))
            count_attempt(observed, upstream, error.reason)
            if not tries_next_deployment(error):
                raise
            last_error = error
            continue
        report.attempts.append(Attempt(upstream.id, "OK"))
        count_attempt(observed, upstream, "OK")
        report.deployment, report.served_model = upstream.deployment, route.name
        served_by(observed, route.name, route.name)
        return counted, report
    if last_error is not None:
        raise last_error
    raise GatewayError(
        Reason.BREAKER_OPEN,
        f"every deployment of model {route.name!r} is failing; the gateway is not sending it calls for now",
        metadata={"model": route.name},
        retry_after=max(min(u.retry_in() for u in route.upstreams), 0.001),
    )
