"""The router: from a requested model to an answer, across deployments, retries and fallbacks.

For each call: resolve the model (name, alias or glob); build the chain of the model and its
fallback models; for each model, filter its deployments by capability and order them by the
model's strategy; try them in order, each guarded by its breaker and bulkhead and retried with
backoff while the retry budget and the caller's deadline allow. Streams fail over only before the
first content: after it, the caller holds a partial answer and the stream's failure is reported.
A stream's attempt is settled when the stream ends (breaker, latency, attempt metric), since only
then is it known whether the deployment delivered the whole answer.
"""

from __future__ import annotations

import asyncio
import datetime
import fnmatch
import functools
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

import grpc
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode

from llmgateway.config import GatewayConfig, ModelSettings, RuleSettings
from llmgateway.errors import GatewayError, deadline_exceeded, model_not_found
from llmgateway.limits.admission import rpm_bucket, tpm_bucket
from llmgateway.limits.backend import Bucket, LimitBackend
from llmgateway.observability.call_record import CallRecord
from llmgateway.observability.call_record import record as current_record
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.observability.tracing import GEN_AI_SYSTEMS, finish_reason_name
from llmgateway.providers.base import Provider, UpstreamCall
from llmgateway.providers.errors import stalled
from llmgateway.reasons import Reason
from llmgateway.resilience.breaker import BreakerState, CircuitBreaker
from llmgateway.resilience.bulkhead import Bulkhead, BulkheadFullError
from llmgateway.resilience.clock import Clock
from llmgateway.resilience.retry import RetryBudget, backoff_delay
from llmgateway.routing import estimate
from llmgateway.routing.classify import counts_against_breaker, error_class, retryable, tries_next_deployment
from llmgateway.routing.deployments import Deployment, Ewma
from llmgateway.routing.rules import Caller, RoutingFacts, RuleSet
from llmgateway.routing.strategies import Balancer, RequestFacts
from llmgateway.streaming import has_content
from llmgateway.v1 import chat_pb2, models_pb2

T = TypeVar("T")
ANONYMOUS = Caller()


@dataclass
class ModelRoute:
    """A configured model with its deployments and balancer."""

    settings: ModelSettings
    deployments: list[Deployment]
    balancer: Balancer

    @property
    def name(self) -> str:
        return self.settings.name


@dataclass
class Attempt:
    """One try of one deployment."""

    deployment: str
    outcome: str  # "OK" or the error reason


@dataclass
class RouteReport:
    """What the caller learns about how its call was served (response metadata)."""

    requested_model: str
    attempts: list[Attempt] = field(default_factory=list)
    deployment: Deployment | None = None
    served_model: str = ""

    @property
    def fallback(self) -> bool:
        return bool(self.served_model) and self.served_model != self.requested_model


@dataclass(frozen=True)
class StreamEnd:
    """How the upstream of a stream ended after its first content: it completed (`failure` is
    None), or it failed after its last read had waited `waited` seconds."""

    failure: GatewayError | None = None
    waited: float = 0.0


@dataclass
class StreamHandle:
    """A stream that has produced its first content: `items` holds what arrived so far, `rest`
    the remaining upstream iterator. `close()` must be awaited when the caller is done; it tells
    `_on_end` how the upstream ended (None: the gateway stopped reading before it did)."""

    deployment: Deployment
    items: list[chat_pb2.ChatStreamResponse]
    rest: AsyncGenerator[chat_pb2.ChatStreamResponse, None] | None
    span: Span
    prompt_tokens: int  # the request's estimate, charged if the stream is cut before usage arrives
    _on_end: Callable[[StreamEnd | None], None]
    _settle: Callable[[chat_pb2.Usage | None], Awaitable[None]]
    _record: CallRecord | None
    _end: StreamEnd | None = None
    _closed: bool = False
    _usage: chat_pb2.Usage | None = None

    def _observe(self, item: chat_pb2.ChatStreamResponse) -> None:
        """Response attributes of the attempt span, as the stream reveals them."""
        if item.model:
            self.span.set_attribute("gen_ai.response.model", item.model)
        if item.finish_reason:
            self.span.set_attribute(
                "gen_ai.response.finish_reasons", [finish_reason_name(item.finish_reason)]
            )
        if item.HasField("usage"):
            self._usage = item.usage
            if item.usage.input_tokens:
                self.span.set_attribute("gen_ai.usage.input_tokens", item.usage.input_tokens)
            if item.usage.output_tokens:
                self.span.set_attribute("gen_ai.usage.output_tokens", item.usage.output_tokens)

    async def messages(self) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        """The stream's messages, noting in `_end` how the upstream ended, if it did."""
        for item in self.items:
            self._observe(item)
            yield item
        if self.rest is None:
            self._end = StreamEnd()
            return
        record = self._record
        while True:
            waiting = time.perf_counter()
            try:
                message = await anext(self.rest)
            except StopAsyncIteration:
                self._end = StreamEnd()
                return
            except GatewayError as error:
                # The wait is real time, as the stall it may report was timed by the event loop.
                self._failed(error, time.perf_counter() - waiting)
                raise
            finally:
                if record is not None:
                    record.upstream_wait_s += time.perf_counter() - waiting
            self._observe(message)
            yield message

    def _failed(self, error: GatewayError, waited: float) -> None:
        self._end = StreamEnd(error, waited)
        self.span.set_status(StatusCode.ERROR, error.reason)
        self.span.set_attribute("error.type", error.reason)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.rest is not None:
                await self.rest.aclose()
        finally:
            self.deployment.bulkhead.release()
            self.span.end()
            self._on_end(self._end)
            await self._settle(self._usage)


_FAILED = object()  # a deployment gave no result; the reason is in _Call.last_error


@dataclass
class _Call(Generic[T]):
    """The state of one routed call across its attempts."""

    request: chat_pb2.ChatRequest
    requested: str
    request_id: str
    deadline: float | None
    facts: RequestFacts
    call_one: Callable[[Deployment, UpstreamCall, Span], Awaitable[T]]
    report: RouteReport
    caller: Caller
    last_error: GatewayError | None = None
    missing: str = ""
    min_context: int = 0


def deployment_demands(deployment: Deployment, tokens: int) -> list[tuple[Bucket, float]]:
    """What one call takes from a deployment's own rate limits."""
    limits, key = deployment.settings.limits, f"deployment:{deployment.id}"
    demands: list[tuple[Bucket, float]] = []
    if limits.rpm:
        demands.append((rpm_bucket(key, limits.rpm), 1))
    if limits.tpm:
        demands.append((tpm_bucket(key, limits.tpm), tokens))
    return demands


def _count_attempt(observed: CallRecord | None, deployment: Deployment, outcome: str) -> None:
    """One attempt in the metrics, with the breaker state it left, when the call is observed."""
    if observed is None:
        return
    metrics = observed.metrics
    metrics.upstream_attempts.labels(deployment.provider.name, deployment.id, outcome).inc()
    metrics.breaker_state.labels(deployment.id).set(int(deployment.breaker.state))


def _with_attempts(error: GatewayError, report: RouteReport) -> GatewayError:
    error.metadata = {**error.metadata, "attempts": str(len(report.attempts))}
    return error


def _breaker_open(model: str, retry_in: float) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        Reason.BREAKER_OPEN,
        f"every deployment of model {model!r} is failing; the gateway is not sending it calls for now",
        metadata={"model": model},
        retry_after=max(retry_in, 0.001),
    )


def _bulkhead_full(deployment: Deployment) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        Reason.BULKHEAD_FULL,
        f"deployment {deployment.id!r} has no free slot",
        metadata={"deployment": deployment.id},
        retry_after=1.0,
    )


def _no_capable_deployment(model: str, missing: str) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.FAILED_PRECONDITION,
        Reason.NO_CAPABLE_DEPLOYMENT,
        f"no deployment of model {model!r} (or its fallbacks) supports {missing}",
        metadata={"model": model, "feature": missing},
    )


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
        self._config = config
        self._limits = limits
        self._metrics = metrics
        self._tracer = tracer or trace.get_tracer("llmgateway")
        self._clock = clock
        self._rng = rng
        self._wall_clock = wall_clock
        self._rules = RuleSet(config.routing.rules)
        # Providers whose active health probe is failing (written by the health monitor).
        self.unhealthy_providers: set[str] = set()
        self._budget = RetryBudget(config.routing.retry, clock)
        provider_settings = {p.name: p for p in config.providers}
        alpha = config.routing.latency_ewma_alpha
        self.routes: list[ModelRoute] = []
        for model in config.models:
            deployments = [
                Deployment(
                    settings=d,
                    provider=providers[d.provider],
                    provider_settings=provider_settings[d.provider],
                    breaker=CircuitBreaker(config.routing.breaker, clock),
                    bulkhead=Bulkhead(d.limits.max_in_flight, d.limits.max_wait_s),
                    ttft=Ewma(alpha),
                    latency=Ewma(alpha),
                )
                for d in model.deployments
            ]
            self.routes.append(ModelRoute(model, deployments, Balancer(model.strategy, rng)))
        self._by_name = {
            name: route
            for route in self.routes
            if not route.settings.is_glob
            for name in [route.name, *route.settings.aliases]
        }
        self._globs = [route for route in self.routes if route.settings.is_glob]
        self._variants: dict[tuple[str, str], ModelRoute] = {}
        by_id = {d.id: (route, d) for route in self.routes for d in route.deployments}
        for rule in config.routing.rules:
            if rule.action.deployments:
                owner = by_id[rule.action.deployments[0]][0]
                deployments = [by_id[deployment_id][1] for deployment_id in rule.action.deployments]
                settings = owner.settings.model_copy(
                    update={
                        "deployments": [d.settings for d in deployments],
                        "strategy": rule.action.strategy or owner.settings.strategy,
                    }
                )
                self._variants[("rule", rule.name)] = ModelRoute(
                    settings, deployments, Balancer(settings.strategy, rng)
                )

    # ---- resolution -------------------------------------------------------------------------

    def resolve(self, name: str) -> ModelRoute:
        """The route for a model name, alias or glob match; NOT_FOUND when none."""
        route = self._by_name.get(name)
        if route is not None:
            return route
        for route in self._globs:
            if fnmatch.fnmatchcase(name, route.name):
                return route
        raise model_not_found(name)

    def _route_for(self, call: _Call[T]) -> ModelRoute:
        """The route after the rules: the requested model, or what the first matching rule says."""
        return self._decide(call.request, call.requested, call.facts.prompt_tokens, call.caller)[0]

    def cache_scope(self, request: chat_pb2.ChatRequest, caller: Caller) -> str:
        """What routing decides for a call, as the response cache must know it: the model route
        that would serve it, or the rule whose deployments would. Two calls that differ only in
        what the rules see (labels, key, time) may go to different models: their answers must not
        be shared. Raises as routing would (unknown model, a rule that rejects the call)."""
        route, rule = self._decide(request, request.model, estimate.prompt_tokens(request), caller)
        return f"rule:{rule.name}" if rule is not None and rule.action.deployments else f"model:{route.name}"

    def _decide(
        self, request: chat_pb2.ChatRequest, requested: str, prompt_tokens: int, caller: Caller
    ) -> tuple[ModelRoute, RuleSettings | None]:
        facts = RoutingFacts(
            model=requested,
            prompt_tokens=prompt_tokens,
            now=self._wall_clock(),
            caller=caller,
            labels=request.labels,
        )
        rule = self._rules.first_match(facts)
        if rule is None:
            return self.resolve(requested), None
        action = rule.action
        if action.reject is not None:
            raise GatewayError(
                grpc.StatusCode.PERMISSION_DENIED,
                Reason.ROUTE_REJECTED,
                f"rejected by routing rule {rule.name!r}: {action.reject}",
                metadata={"rule": rule.name},
            )
        if action.deployments:
            return self._variants[("rule", rule.name)], rule
        route = self.resolve(action.model or requested)
        if action.strategy is None or action.strategy == route.settings.strategy:
            return route, rule
        key = (route.name, action.strategy)
        if key not in self._variants:
            self._variants[key] = ModelRoute(
                route.settings, route.deployments, Balancer(action.strategy, self._rng)
            )
        return self._variants[key], rule

    def _chain(self, route: ModelRoute) -> list[ModelRoute]:
        chain = [route]
        for fallback in route.settings.fallbacks:
            candidate = self._by_name[fallback]
            if candidate not in chain:
                chain.append(candidate)
        return chain

    def open_until(self, name: str) -> float | None:
        """When every deployment of the model and its fallbacks has an open breaker: seconds until
        the first lets a probe through. None when some deployment is usable (or the model is
        unknown: the servicer reports that)."""
        try:
            route = self.resolve(name)
        except GatewayError:
            return None
        deployments = [d for r in self._chain(route) for d in r.deployments]
        if any(d.breaker.state is not BreakerState.OPEN for d in deployments):
            return None
        return min(d.breaker.retry_in() for d in deployments)

    def describe(self) -> list[models_pb2.Model]:
        """Every configured model as ListModels shows it, sorted by name."""
        return [
            models_pb2.Model(
                name=route.name,
                aliases=route.settings.aliases,
                providers=sorted({d.provider.name for d in route.deployments}),
            )
            for route in sorted(self.routes, key=lambda r: r.name)
        ]

    # ---- candidate selection ----------------------------------------------------------------

    def _healthy_first(self, deployments: list[Deployment]) -> list[Deployment]:
        """Deployments whose provider passes its probes; all of them when none does, since a
        failing probe is a guess and a real call is the better test."""
        healthy = [d for d in deployments if d.provider.name not in self.unhealthy_providers]
        return healthy or deployments

    def usable(self) -> bool:
        """Whether any model has a deployment that would take a call now (readiness)."""
        return any(
            d.provider.name not in self.unhealthy_providers and d.breaker.state is not BreakerState.OPEN
            for route in self.routes
            for d in route.deployments
        )

    def _capable(
        self, route: ModelRoute, request: chat_pb2.ChatRequest, facts: RequestFacts, min_context: int
    ) -> tuple[list[Deployment], str]:
        """Deployments that can serve the request, and (when none) what they lack."""
        needs_tools = bool(request.tools)
        needs_images = estimate.needs_images(request)
        needs_schema = request.generation_config.HasField("response_json_schema")
        wanted = facts.prompt_tokens + facts.output_tokens
        capable, missing = [], ""
        for deployment in self._healthy_first(route.deployments):
            caps = deployment.settings.capabilities
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
                capable.append(deployment)
        return capable, missing

    # ---- the attempt loop -------------------------------------------------------------------

    async def _attempt(self, call: _Call[T]) -> tuple[T, RouteReport]:
        route = self._route_for(call)
        call.report.requested_model = route.name
        observed = current_record()
        if observed is not None:
            observed.model = route.name
        self._budget.record_request()
        for position, model_route in enumerate(self._chain(route)):
            # Fallback models are tried when the model before failed with an error of a class in
            # `fallback_on`, or had no deployment able to serve the request at all.
            last = call.last_error
            if position > 0 and last is not None and error_class(last) not in route.settings.fallback_on:
                break
            candidates, lacking = self._capable(model_route, call.request, call.facts, call.min_context)
            call.missing = call.missing or lacking
            if position > 0 and candidates:
                trace.get_current_span().add_event(
                    "fallback", {"from_model": route.name, "to_model": model_route.name}
                )
            upstream_name = call.requested if model_route is route else model_route.name
            for deployment in model_route.balancer.order(candidates, call.facts, upstream_name):
                outcome = await self._try_deployment(call, model_route, deployment, upstream_name)
                if outcome is not _FAILED:
                    return cast(T, outcome), call.report
                if call.last_error is not None and not tries_next_deployment(call.last_error):
                    break
        if call.last_error is not None:
            raise _with_attempts(call.last_error, call.report)
        if call.missing:
            raise _no_capable_deployment(route.name, call.missing)
        raise _breaker_open(route.name, 0.0)

    async def _try_deployment(
        self, call: _Call[T], model_route: ModelRoute, deployment: Deployment, upstream_name: str
    ) -> T | object:
        """One deployment with its retries: the result, or _FAILED with call.last_error set.
        Raises the caller's own errors, which no other deployment would fix."""
        retries = 0
        while True:
            if not self._admit(call, model_route, deployment):
                return _FAILED
            upstream_call = UpstreamCall(
                request=call.request,
                upstream_model=deployment.upstream_model(upstream_name),
                request_id=call.request_id,
            )
            try:
                result = await self._one_attempt(call, deployment, upstream_call)
            except BulkheadFullError:
                return _FAILED
            except GatewayError as error:
                if error_class(error) is None and error.reason != Reason.UNSUPPORTED_CAPABILITY:
                    raise _with_attempts(error, call.report) from None  # the caller's own error
                delay = self._retry_delay(call, deployment, error, retries)
                if delay is None:
                    return _FAILED
                trace.get_current_span().add_event(
                    "retry", {"deployment": deployment.id, "reason": error.reason, "delay_s": delay}
                )
                await self._clock.sleep(delay)
                retries += 1
                continue
            self._succeeded(call, model_route, deployment)
            return result

    def _admit(self, call: _Call[T], model_route: ModelRoute, deployment: Deployment) -> bool:
        """Whether the deployment's breaker lets an attempt through; raises when the caller's
        deadline has already passed."""
        if not deployment.breaker.acquire():
            trace.get_current_span().add_event("breaker_open", {"deployment": deployment.id})
            call.report.attempts.append(Attempt(deployment.id, "BREAKER_OPEN"))
            call.last_error = call.last_error or _breaker_open(
                model_route.name, deployment.breaker.retry_in()
            )
            return False
        if call.deadline is not None and self._clock.now() >= call.deadline:
            deployment.breaker.record_neutral()
            raise _with_attempts(
                call.last_error or deadline_exceeded("before an attempt could start"), call.report
            )
        return True

    async def _one_attempt(self, call: _Call[T], deployment: Deployment, upstream_call: UpstreamCall) -> T:
        """One call to one deployment, traced, timed and counted; failures are recorded in `call`
        and re-raised."""
        observed = current_record()
        span = self._attempt_span(deployment, upstream_call, len(call.report.attempts) + 1)
        if observed is not None:
            observed.attempts += 1
            observed.provider, observed.deployment = deployment.provider.name, deployment.id
            observed.price = functools.partial(deployment.cost, call.requested)
            observed.prompt_tokens = call.facts.prompt_tokens
        started = self._clock.now()
        waiting = time.perf_counter()
        try:
            await self._reserve_deployment(deployment, call.facts)
            with trace.use_span(span, end_on_exit=False):
                return await call.call_one(deployment, upstream_call, span)
        except BulkheadFullError:
            span.end()
            deployment.breaker.record_neutral()
            self._note_attempt(call, deployment, "BULKHEAD_FULL")
            call.last_error = _bulkhead_full(deployment)
            raise
        except asyncio.CancelledError:
            # The caller went away or its deadline passed: nothing learned about the deployment,
            # but a half-open probe must give its slot back, or the breaker stays half-open with
            # no free slot, refusing every call for good.
            span.end()
            deployment.breaker.record_neutral()
            self._note_attempt(call, deployment, "CANCELLED")
            raise
        except GatewayError as error:
            span.set_status(StatusCode.ERROR, error.reason)
            span.set_attribute("error.type", error.reason)
            span.end()
            self._account_failure(deployment, error, self._clock.now() - started, call.facts.stream)
            self._note_attempt(call, deployment, error.reason)
            call.last_error = error
            if error_class(error) == "context_length_exceeded":
                call.min_context = max(call.min_context, deployment.settings.capabilities.context_window or 0)
            raise
        finally:
            if observed is not None:
                observed.upstream_wait_s += time.perf_counter() - waiting

    async def _reserve_deployment(self, deployment: Deployment, facts: RequestFacts) -> None:
        """Take one call and the estimated tokens from the deployment's own RPM/TPM (the provider's
        limits), so the gateway sheds before the provider answers 429."""
        limits = deployment.settings.limits
        if self._limits is None or not (limits.rpm or limits.tpm):
            return
        demands = deployment_demands(deployment, facts.prompt_tokens + facts.output_tokens)
        result = await self._limits.reserve(demands)
        if result.granted:
            return
        if self._metrics is not None:
            self._metrics.ratelimit_rejections.labels("deployment").inc()
        retry_after = result.denial.retry_after_s if result.denial is not None else None
        raise GatewayError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            Reason.DEPLOYMENT_RATE_LIMITED,
            f"deployment {deployment.id!r} is at its configured rate limit",
            metadata={"deployment": deployment.id},
            retry_after=retry_after,
        )

    async def _settle_deployment(
        self, deployment: Deployment, facts: RequestFacts, usage: chat_pb2.Usage | None
    ) -> None:
        """Reconcile the deployment's TPM with the real usage (unknown usage keeps the estimate)."""
        tpm = deployment.settings.limits.tpm
        if self._limits is None or not tpm or usage is None:
            return
        estimate = facts.prompt_tokens + facts.output_tokens
        actual = usage.total_tokens or usage.input_tokens + usage.output_tokens
        if actual != estimate:
            await self._limits.adjust([(tpm_bucket(f"deployment:{deployment.id}", tpm), actual - estimate)])

    def _retry_delay(
        self, call: _Call[T], deployment: Deployment, error: GatewayError, retries: int
    ) -> float | None:
        """The backoff before retrying the same deployment, or None when no retry is due: the
        error is not transient, retries are used up, the deadline cannot fit one, or the budget is
        spent."""
        settings = self._config.routing.retry
        if not (retryable(error) and retries < settings.max_retries):
            return None
        delay = backoff_delay(retries, settings, self._rng, error.retry_after)
        if not (self._fits(call.deadline, delay, deployment, call.facts.stream) and self._budget.try_spend()):
            return None
        return delay

    def _succeeded(self, call: _Call[T], model_route: ModelRoute, deployment: Deployment) -> None:
        # A stream's attempt is in the report (the caller's attempt count) from its first token, but
        # counted in the metrics only when it ends, with how it ended (_stream_ended).
        self._note_attempt(call, deployment, "OK", counted=not call.facts.stream)
        call.report.deployment = deployment
        call.report.served_model = model_route.name
        observed = current_record()
        if observed is not None:
            observed.model = model_route.name
            if model_route.name != call.report.requested_model:
                observed.fallback_from = call.report.requested_model
                observed.metrics.fallbacks.labels(call.report.requested_model, model_route.name).inc()

    def _attempt_span(self, deployment: Deployment, upstream_call: UpstreamCall, attempt: int) -> Span:
        """A client span per upstream attempt, with the GenAI semantic-convention attributes."""
        call_span = trace.get_current_span()
        context = call_span.get_span_context()
        if context.is_valid and not context.trace_flags.sampled and not call_span.is_recording():
            # An unsampled call: our samplers (parent-based, or by trace id) drop its children as
            # well, so the call's own span stands in for the attempt's rather than a new one made,
            # with its attributes, only to be dropped. Upstreams still get the call's trace id.
            return call_span
        return self._tracer.start_span(
            f"chat {upstream_call.upstream_model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": GEN_AI_SYSTEMS.get(
                    deployment.provider_settings.type, deployment.provider_settings.type
                ),
                "gen_ai.request.model": upstream_call.upstream_model,
                "llmgateway.provider": deployment.provider.name,
                "llmgateway.deployment": deployment.id,
                "llmgateway.attempt": attempt,
            },
        )

    @staticmethod
    def _note_attempt(call: _Call[T], deployment: Deployment, outcome: str, *, counted: bool = True) -> None:
        """Add an attempt to the report, and (when `counted`) to the metrics."""
        call.report.attempts.append(Attempt(deployment.id, outcome))
        if counted:
            _count_attempt(current_record(), deployment, outcome)

    def _stream_ended(
        self, deployment: Deployment, observed: CallRecord | None, end: StreamEnd | None
    ) -> None:
        """Settle a stream's attempt, once, when it is closed: the breaker, the latency a stall
        shows, and the attempt metric with the real outcome."""
        if end is None:
            # The gateway stopped reading before the upstream ended: the caller cancelled, its
            # deadline passed, or something between the router and the caller failed. That says
            # nothing about the deployment: a failure would let impatient callers open the breaker
            # of a healthy deployment, and a success would hide a stall the caller gave up on before
            # `between_tokens_s`. Neutral also frees a half-open probe's slot.
            deployment.breaker.record_neutral()
            outcome = "CANCELLED"
        elif end.failure is None:
            deployment.breaker.record_success()
            outcome = "OK"
        else:
            # Counted as a failure before the first token is: the breaker, and a stall's wait as a
            # latency observation (a deployment that stalls mid-stream falls back in the order).
            self._account_failure(deployment, end.failure, end.waited, stream=True)
            outcome = end.failure.reason
        _count_attempt(observed, deployment, outcome)

    @staticmethod
    def _facts(request: chat_pb2.ChatRequest, *, stream: bool) -> RequestFacts:
        return RequestFacts(
            stream=stream,
            prompt_tokens=estimate.prompt_tokens(request),
            output_tokens=estimate.output_tokens(request),
        )

    def _fits(self, deadline: float | None, delay: float, deployment: Deployment, stream: bool) -> bool:
        """Whether a retry after `delay` can finish before the caller's deadline, judging by how
        long this deployment usually takes (to the first token, for streams)."""
        if deadline is None:
            return True
        usual = (deployment.ttft if stream else deployment.latency).value or 0.0
        return self._clock.now() + delay + usual < deadline

    def _account_failure(
        self, deployment: Deployment, error: GatewayError, elapsed: float, stream: bool
    ) -> None:
        if counts_against_breaker(error):
            deployment.breaker.record_failure(error.retry_after)
        else:
            deployment.breaker.record_neutral()
        if error.reason in (Reason.UPSTREAM_STALL, Reason.UPSTREAM_TIMEOUT):
            # A timeout is a latency observation too: the slow deployment falls back in the order.
            (deployment.ttft if stream else deployment.latency).add(elapsed)

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
        facts = self._facts(request, stream=False)

        async def call_one(deployment: Deployment, call: UpstreamCall, span: Span) -> chat_pb2.ChatResponse:
            async with deployment.bulkhead.slot():
                started = self._clock.now()
                try:
                    async with asyncio.timeout(deployment.provider_settings.timeouts.total_s):
                        response = await deployment.provider.chat(call)
                except TimeoutError:
                    raise GatewayError(
                        grpc.StatusCode.UNAVAILABLE,
                        Reason.UPSTREAM_TIMEOUT,
                        f"provider {deployment.provider.name!r} did not answer within "
                        f"{deployment.provider_settings.timeouts.total_s:g}s",
                        metadata={"provider": deployment.provider.name},
                    ) from None
                deployment.latency.add(self._clock.now() - started)
                deployment.breaker.record_success()
                span.set_attribute("gen_ai.response.model", response.model)
                span.set_attribute(
                    "gen_ai.response.finish_reasons", [finish_reason_name(response.finish_reason)]
                )
                span.set_attribute("gen_ai.usage.input_tokens", response.usage.input_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", response.usage.output_tokens)
                span.end()
                await self._settle_deployment(deployment, facts, response.usage)
                return response

        return await self._attempt(
            _Call(request, requested, request_id, deadline, facts, call_one, RouteReport(requested), caller)
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
        facts = self._facts(request, stream=True)

        async def call_one(deployment: Deployment, call: UpstreamCall, span: Span) -> StreamHandle:
            await deployment.bulkhead.acquire()
            started = self._clock.now()
            upstream = deployment.provider.stream(call)
            items: list[chat_pb2.ChatStreamResponse] = []
            # The first token's time limit counts from the request, so an upstream that never sends
            # its response headers stalls too (the adapters' pacing starts at the headers).
            first_token_s = deployment.provider_settings.timeouts.first_token_s
            try:
                async with asyncio.timeout(first_token_s):
                    async for item in upstream:
                        items.append(item)
                        if has_content(item):
                            break
                    else:
                        await upstream.aclose()
            except TimeoutError:
                await upstream.aclose()
                deployment.bulkhead.release()
                raise stalled(deployment.provider.name, "first token", first_token_s) from None
            except BaseException:
                await upstream.aclose()
                deployment.bulkhead.release()
                raise
            deployment.ttft.add(self._clock.now() - started)
            # No breaker success yet: the first token shows the deployment can start an answer,
            # not that it can finish one. The stream's end decides (_stream_ended).
            span.add_event("first_token")
            rest = upstream if items and has_content(items[-1]) else None
            # The call's record is taken now, not at close(), which need not run in the call's
            # Context (a stream generator finalised by the event loop runs in another).
            observed = current_record()

            def on_end(end: StreamEnd | None) -> None:
                self._stream_ended(deployment, observed, end)

            async def settle(usage: chat_pb2.Usage | None) -> None:
                await self._settle_deployment(deployment, facts, usage)

            return StreamHandle(deployment, items, rest, span, facts.prompt_tokens, on_end, settle, observed)

        return await self._attempt(
            _Call(request, requested, request_id, deadline, facts, call_one, RouteReport(requested), caller)
        )
