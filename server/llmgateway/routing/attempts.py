"""The attempt loop: a call tried on the candidates of its model, then of its fallback models, each
candidate through its upstream (breaker, own limits, bulkhead, time limits) and retried with
backoff while the retry budget and the caller's deadline allow.

What one attempt does (a unary answer, or a stream up to its first content) is the caller's
`call_one`; the loop is the same for both. Streams thus fail over only before their first content:
after it, the caller holds a partial answer, and the stream handle reports how it ends.

A refusal or content-filter finish is an answer, returned as such, unless the model's
`fallback_on` lists its class (`refused`, `content_filtered`: routing/classify.declining_class).
Then the answer is held, and the call goes on to the next deployment and the fallback models as
after a failure; the first answer that does not decline wins, and if none comes, the caller gets
the last one held. A stream is judged by its first content (what would be relayed first): only a
refusal delta or a declining finish there can send it elsewhere; a stream that began with text
keeps what it relays.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from opentelemetry import trace

from llmgateway.config import RetrySettings
from llmgateway.errors import GatewayError, deadline_exceeded
from llmgateway.observability.call_record import record as current_record
from llmgateway.reasons import Reason
from llmgateway.resilience.bulkhead import BulkheadFullError
from llmgateway.resilience.clock import Clock
from llmgateway.resilience.retry import RetryBudget, backoff_delay
from llmgateway.routing.candidates import capable
from llmgateway.routing.classify import declining_class, error_class, retryable, tries_next_deployment
from llmgateway.routing.kinds import RoutedRequest, check_kind
from llmgateway.routing.report import Attempt, RouteReport
from llmgateway.routing.resolve import ModelRoute, RouteTable
from llmgateway.routing.rules import Caller
from llmgateway.routing.strategies import RequestFacts
from llmgateway.routing.telemetry import AttemptSpan, attempt_started, call_event, count_attempt, served_by
from llmgateway.routing.upstream import Upstream
from llmgateway.v1 import chat_pb2

T = TypeVar("T")

# One attempt on one upstream, given the model name to send it: its result, or a GatewayError
# (BulkheadFullError: no free slot).
CallOne = Callable[[Upstream, str, AttemptSpan], Awaitable[T]]


@dataclass(frozen=True)
class Declines(Generic[T]):
    """How the loop tells a result that declined (its finish reason) and lets go of one it holds
    but does not return (a stream's handle must be closed)."""

    finish: Callable[[T], chat_pb2.FinishReason.ValueType]
    let_go: Callable[[T], Awaitable[None]] | None = None


@dataclass
class _Held(Generic[T]):
    """A declining answer kept in case no other deployment answers."""

    result: T
    upstream: Upstream
    model_route: ModelRoute


class _Failed:
    """An upstream gave no result (the reason is in _Call.last_error), or an answer that declined
    (held in _Call.held)."""


_FAILED = _Failed()


@dataclass
class _Call(Generic[T]):
    """The state of one routed call across its attempts."""

    request: RoutedRequest
    requested: str
    request_id: str
    deadline: float | None
    facts: RequestFacts
    call_one: CallOne[T]
    report: RouteReport
    declines: Declines[T] | None = None
    last_error: GatewayError | None = None
    held: _Held[T] | None = None
    # The class of the last attempt's declining answer; None once a later attempt failed.
    declined: str | None = None
    missing: str = ""  # what the deployments that could not serve the request lacked
    # What each deployment that could not honour the request's reasoning settings lacked.
    reasoning_lacking: list[tuple[str, str]] = field(default_factory=list)
    min_context: int = 0  # the largest context window that proved too small


def with_attempts(error: GatewayError, report: RouteReport) -> GatewayError:
    error.metadata = {**error.metadata, "attempts": str(len(report.attempts))}
    return error


def breaker_open(model: str, retry_in: float) -> GatewayError:
    return GatewayError(
        Reason.BREAKER_OPEN,
        f"every deployment of model {model!r} is failing; the gateway is not sending it calls for now",
        metadata={"model": model},
        retry_after=max(retry_in, 0.001),
    )


def bulkhead_full(upstream: Upstream) -> GatewayError:
    return GatewayError(
        Reason.BULKHEAD_FULL,
        f"deployment {upstream.id!r} has no free slot",
        metadata={"deployment": upstream.id},
        retry_after=1.0,
    )


def reasoning_unsupported(model: str, lacking: list[tuple[str, str]]) -> GatewayError:
    """No deployment can honour the reasoning settings; the message names each and what it lacks."""
    return GatewayError(
        Reason.REASONING_UNSUPPORTED,
        f"no deployment of model {model!r} (or its fallbacks) can honour the reasoning settings: "
        + "; ".join(f"deployment {deployment!r} lacks {what}" for deployment, what in lacking),
        metadata={"model": model, "deployments": ",".join(deployment for deployment, _ in lacking)},
    )


def no_capable_deployment(model: str, missing: str) -> GatewayError:
    return GatewayError(
        Reason.NO_CAPABLE_DEPLOYMENT,
        f"no deployment of model {model!r} (or its fallbacks) supports {missing}",
        metadata={"model": model, "feature": missing},
    )


class AttemptLoop:
    """Runs calls over the routes of one config, with one retry budget for all of them."""

    def __init__(
        self,
        table: RouteTable,
        retry: RetrySettings,
        *,
        clock: Clock,
        rng: random.Random,
        tracer: trace.Tracer,
    ) -> None:
        self._table = table
        self._retry = retry
        self._budget = RetryBudget(retry, clock)
        self._clock = clock
        self._rng = rng
        self._tracer = tracer

    async def run(
        self,
        request: RoutedRequest,
        facts: RequestFacts,
        call_one: CallOne[T],
        *,
        requested: str,
        request_id: str,
        deadline: float | None,
        caller: Caller,
        declines: Declines[T] | None = None,
    ) -> tuple[T, RouteReport]:
        """The first result `call_one` gives on the call's candidates, with the report of every
        attempt; else the declining answer held last (see the module's doc); else the last
        attempt's error (or why no attempt could be made)."""
        call = _Call(request, requested, request_id, deadline, facts, call_one, RouteReport(requested))
        call.declines = declines
        try:
            return await self._run(call, caller)
        except BaseException:
            await self._let_go(call)
            raise

    async def _run(self, call: _Call[T], caller: Caller) -> tuple[T, RouteReport]:
        request, requested, facts = call.request, call.requested, call.facts
        route = self._table.decide(request, requested, facts.prompt_tokens, caller)[0]
        check_kind(route.name, route.settings.kind, request)
        call.report.requested_model = route.name
        observed = current_record()
        if observed is not None:
            observed.model = route.name
        self._budget.record_request()
        for position, model_route in enumerate(self._table.chain(route)):
            # Fallback models are tried when the model before failed with an error of a class in
            # `fallback_on`, or had no deployment able to serve the request at all.
            last = call.last_error
            if (
                position > 0
                and call.declined is None
                and last is not None
                and error_class(last) not in route.settings.fallback_on
            ):
                break
            upstream_name = requested if model_route is route else model_route.name
            candidates, lacking, reasoning = capable(
                model_route, request, facts, call.min_context, upstream_name
            )
            call.missing = call.missing or lacking
            call.reasoning_lacking += reasoning
            if position > 0 and candidates:
                call_event("fallback", {"from_model": route.name, "to_model": model_route.name})
            for upstream in model_route.balancer.order(candidates, facts, upstream_name):
                outcome = await self._try_upstream(call, model_route, upstream, upstream_name, route)
                if not isinstance(outcome, _Failed):
                    await self._let_go(call)
                    return outcome, call.report
                if call.declined is not None:
                    continue  # the policy asks for another deployment's answer
                if call.last_error is not None and not tries_next_deployment(call.last_error):
                    break
        held = call.held
        if held is not None:
            call.held = None
            self._served(call, held.model_route, held.upstream)
            return held.result, call.report
        if call.last_error is not None:
            raise with_attempts(call.last_error, call.report)
        if call.reasoning_lacking and not call.missing:
            raise reasoning_unsupported(route.name, call.reasoning_lacking)
        if call.missing:
            raise no_capable_deployment(route.name, call.missing)
        raise breaker_open(route.name, 0.0)

    async def _try_upstream(
        self,
        call: _Call[T],
        model_route: ModelRoute,
        upstream: Upstream,
        upstream_name: str,
        route: ModelRoute,
    ) -> T | _Failed:
        """One upstream with its retries: the result, or _FAILED with call.last_error set (or the
        answer held, when it declined and `route`'s policy sends such answers elsewhere).
        Raises the caller's own errors, which no other deployment would fix."""
        retries = 0
        while True:
            if not self._admit(call, model_route, upstream):
                return _FAILED
            try:
                result = await self._one_attempt(
                    call, upstream, upstream.deployment.upstream_model(upstream_name)
                )
            except BulkheadFullError:
                return _FAILED
            except GatewayError as error:
                if error_class(error) is None and error.reason != Reason.UNSUPPORTED_CAPABILITY:
                    raise with_attempts(error, call.report) from None  # the caller's own error
                delay = self._retry_delay(call, upstream, error, retries)
                if delay is None:
                    return _FAILED
                call_event("retry", {"deployment": upstream.id, "reason": error.reason, "delay_s": delay})
                await self._clock.sleep(delay)
                retries += 1
                continue
            declined = self._declined(call, result, route)
            if declined is not None:
                await self._hold(call, _Held(result, upstream, model_route), declined)
                return _FAILED
            self._succeeded(call, model_route, upstream)
            return result

    def _declined(self, call: _Call[T], result: T, route: ModelRoute) -> str | None:
        """The class of a declining answer the model's policy sends elsewhere; None otherwise."""
        if call.declines is None:
            return None
        declined = declining_class(call.declines.finish(result))
        return declined if declined is not None and declined in route.settings.fallback_on else None

    async def _hold(self, call: _Call[T], held: _Held[T], declined: str) -> None:
        """Keep a declining answer (letting go of the one held before) and note its attempt."""
        await self._let_go(call)
        call.held, call.declined = held, declined
        call.last_error = None
        call_event("declined", {"deployment": held.upstream.id, "class": declined})
        # A stream's attempt is counted when its handle is closed (StreamHandle.set_aside).
        self._note_attempt(call, held.upstream, declined.upper(), counted=not call.facts.stream)

    @staticmethod
    async def _let_go(call: _Call[T]) -> None:
        """Release the held answer, which the caller will not get."""
        held, call.held = call.held, None
        if held is not None and call.declines is not None and call.declines.let_go is not None:
            await call.declines.let_go(held.result)

    def _admit(self, call: _Call[T], model_route: ModelRoute, upstream: Upstream) -> bool:
        """Whether the upstream's breaker lets an attempt through; raises when the caller's
        deadline has already passed."""
        if not upstream.admit():
            call_event("breaker_open", {"deployment": upstream.id})
            call.report.attempts.append(Attempt(upstream.id, "BREAKER_OPEN"))
            call.last_error = call.last_error or breaker_open(model_route.name, upstream.retry_in())
            return False
        if call.deadline is not None and self._clock.now() >= call.deadline:
            upstream.record_neutral()
            raise with_attempts(
                call.last_error or deadline_exceeded("before an attempt could start"), call.report
            )
        return True

    async def _one_attempt(self, call: _Call[T], upstream: Upstream, upstream_model: str) -> T:
        """One call to one upstream, traced, timed and counted; failures are recorded in `call`
        and re-raised."""
        observed = current_record()
        span = AttemptSpan.start(
            self._tracer,
            upstream,
            upstream_model,
            len(call.report.attempts) + 1,
            operation=call.facts.operation,
            request=call.request,
            request_id=call.request_id,
        )
        attempt_started(observed, upstream, call.requested, call.facts.prompt_tokens)
        started = self._clock.now()
        waiting = time.perf_counter()
        try:
            await upstream.reserve(call.facts.tokens)
            with span.active():
                return await call.call_one(upstream, upstream_model, span)
        except BulkheadFullError:
            span.end()
            upstream.record_neutral()
            self._note_attempt(call, upstream, "BULKHEAD_FULL")
            call.last_error = bulkhead_full(upstream)
            raise
        except asyncio.CancelledError:
            # The caller went away or its deadline passed: nothing learned about the deployment,
            # but a half-open probe must give its slot back, or the breaker stays half-open with
            # no free slot, refusing every call for good.
            span.end()
            upstream.record_neutral()
            self._note_attempt(call, upstream, "CANCELLED")
            raise
        except GatewayError as error:
            span.failed(error)
            span.end()
            upstream.record_failure(error, self._clock.now() - started, stream=call.facts.stream)
            self._note_attempt(call, upstream, error.reason)
            call.last_error = error
            call.declined = None
            if error_class(error) == "context_length_exceeded":
                call.min_context = max(call.min_context, upstream.settings.capabilities.context_window or 0)
            raise
        finally:
            if observed is not None:
                observed.upstream_wait_s += time.perf_counter() - waiting

    def _retry_delay(
        self, call: _Call[T], upstream: Upstream, error: GatewayError, retries: int
    ) -> float | None:
        """The backoff before retrying the same upstream, or None when no retry is due: the error
        is not transient, retries are used up, the deadline cannot fit one, or the budget is
        spent."""
        if not (retryable(error) and retries < self._retry.max_retries):
            return None
        delay = backoff_delay(retries, self._retry, self._rng, error.retry_after)
        if not (self._fits(call, delay, upstream) and self._budget.try_spend()):
            return None
        return delay

    def _fits(self, call: _Call[T], delay: float, upstream: Upstream) -> bool:
        """Whether a retry after `delay` can finish before the caller's deadline, judging by how
        long this upstream usually takes (to the first token, for streams)."""
        if call.deadline is None:
            return True
        usual = upstream.usual_duration(call.facts.stream) or 0.0
        return self._clock.now() + delay + usual < call.deadline

    def _succeeded(self, call: _Call[T], model_route: ModelRoute, upstream: Upstream) -> None:
        # A stream's attempt is in the report (the caller's attempt count) from its first token, but
        # counted in the metrics only when it ends, with how it ended (StreamHandle.close).
        self._note_attempt(call, upstream, "OK", counted=not call.facts.stream)
        self._served(call, model_route, upstream)

    @staticmethod
    def _served(call: _Call[T], model_route: ModelRoute, upstream: Upstream) -> None:
        call.report.deployment = upstream.deployment
        call.report.served_model = model_route.name
        served_by(current_record(), call.report.requested_model, model_route.name)

    @staticmethod
    def _note_attempt(call: _Call[T], upstream: Upstream, outcome: str, *, counted: bool = True) -> None:
        """Add an attempt to the report, and (when `counted`) to the metrics."""
        call.report.attempts.append(Attempt(upstream.id, outcome))
        if counted:
            count_attempt(current_record(), upstream, outcome)
