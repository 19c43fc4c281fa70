"""One deployment as the router calls it: the upstream, with its breaker, bulkhead, own RPM/TPM
limits, probe health and time limits, and the latencies routing has seen from it.

Everything that guards or accounts a call to one deployment is here: the attempt loop asks the
upstream (admit, reserve, call, record the outcome) and the health monitor tells it how its
provider's probes went; nothing else touches its breaker or bulkhead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from llmgateway.config import DeploymentSettings
from llmgateway.errors import GatewayError
from llmgateway.limits.admission import rpm_bucket, tpm_bucket
from llmgateway.limits.backend import Bucket, LimitBackend
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.providers.base import EmbedCall, UpstreamCall
from llmgateway.reasons import Reason
from llmgateway.resilience.breaker import BreakerState, CircuitBreaker
from llmgateway.resilience.bulkhead import Bulkhead
from llmgateway.resilience.clock import Clock
from llmgateway.routing.classify import counts_against_breaker
from llmgateway.routing.deployments import Deployment
from llmgateway.routing.stream_content import has_content
from llmgateway.v1 import chat_pb2, embeddings_pb2

T = TypeVar("T")


@dataclass
class Ewma:
    """Exponentially weighted moving average; None until the first sample."""

    alpha: float
    value: float | None = None

    def add(self, sample: float) -> None:
        self.value = sample if self.value is None else self.alpha * sample + (1 - self.alpha) * self.value


@dataclass
class FirstContent:
    """A stream up to its first content: the messages so far (the content one last), and the rest
    of the upstream; None when the upstream ended there, with or without content."""

    items: list[chat_pb2.ChatStreamResponse]
    rest: AsyncGenerator[chat_pb2.ChatStreamResponse, None] | None


@dataclass(frozen=True)
class StreamEnd:
    """How the upstream of a stream ended after its first content: it completed (`failure` is
    None), or it failed after its last read had waited `waited` seconds."""

    failure: GatewayError | None = None
    waited: float = 0.0


def _no_first_token(provider: str, seconds: float) -> GatewayError:
    """The stall the first-token timer reports. The timer is routing's alone (the adapters' pacing
    times only the gaps between tokens), so its error is made here, in the words of theirs."""
    return GatewayError(
        Reason.UPSTREAM_STALL,
        f"provider {provider!r} sent no first token for {seconds:g}s",
        metadata={"provider": provider},
    )


class Upstream:
    """One deployment at run time, shared by every call routed to it."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        breaker: CircuitBreaker,
        bulkhead: Bulkhead,
        latency_alpha: float,
        clock: Clock,
        limits: LimitBackend | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.deployment = deployment
        self.bulkhead = bulkhead
        self.ttft = Ewma(latency_alpha)  # streams: time to the first token
        self.latency = Ewma(latency_alpha)  # unary calls: the whole answer
        # Smooth weighted round-robin state (nginx's algorithm), kept by the `weighted` strategy.
        self.current_weight = 0.0
        self._breaker = breaker
        self._clock = clock
        self._limits = limits
        self._metrics = metrics
        self._probe_passing = True

    # ---- what strategies and reports read -----------------------------------------------------

    @property
    def id(self) -> str:
        return self.deployment.id

    @property
    def settings(self) -> DeploymentSettings:
        return self.deployment.settings

    @property
    def provider_name(self) -> str:
        return self.deployment.provider.name

    @property
    def in_flight(self) -> int:
        return self.bulkhead.in_flight

    def usual_duration(self, stream: bool) -> float | None:
        """How long a call here usually takes: to the first token for streams, to the whole
        answer otherwise; None until one was seen."""
        return (self.ttft if stream else self.latency).value

    def estimated_cost(self, requested: str | None, prompt_tokens: int, output_tokens: int) -> float | None:
        return self.deployment.estimated_cost(requested, prompt_tokens, output_tokens)

    # ---- health: the provider's active probes, and readiness ----------------------------------

    @property
    def probe_passing(self) -> bool:
        """Whether the provider passed its last active probe (True when it has none, or none ran)."""
        return self._probe_passing

    def record_probe(self, passed: bool) -> None:
        """The health monitor's latest probe of this upstream's provider."""
        self._probe_passing = passed

    @property
    def usable(self) -> bool:
        """Whether it would take a call now (readiness): probes pass and the breaker is not open."""
        return self._probe_passing and self._breaker.state is not BreakerState.OPEN

    # ---- the breaker ----------------------------------------------------------------------------

    @property
    def breaker_state(self) -> BreakerState:
        return self._breaker.state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it is not open)."""
        return self._breaker.retry_in()

    def admit(self) -> bool:
        """Whether the breaker lets an attempt through (in half-open, this takes a probe slot)."""
        return self._breaker.acquire()

    def record_neutral(self) -> None:
        """An attempt that says nothing of the deployment; frees a half-open probe's slot."""
        self._breaker.record_neutral()

    def record_failure(self, error: GatewayError, elapsed: float, *, stream: bool) -> None:
        """A failed attempt: for the breaker when the deployment is to blame (neutral when the
        caller is), and a timeout's wait as a latency sample."""
        if counts_against_breaker(error):
            self._breaker.record_failure(error.retry_after)
        else:
            self._breaker.record_neutral()
        if error.reason in (Reason.UPSTREAM_STALL, Reason.UPSTREAM_TIMEOUT):
            # A timeout is a latency observation too: the slow deployment falls back in the order.
            (self.ttft if stream else self.latency).add(elapsed)

    def record_stream_end(self, end: StreamEnd | None) -> str:
        """Settle a stream's attempt when it is closed, and name its outcome (for the metric):
        only the stream's end shows whether the deployment delivered the whole answer."""
        if end is None:
            # The gateway stopped reading before the upstream ended: the caller cancelled, its
            # deadline passed, or something between the router and the caller failed. That says
            # nothing about the deployment: a failure would let impatient callers open the breaker
            # of a healthy deployment, and a success would hide a stall the caller gave up on before
            # `between_tokens_s`. Neutral also frees a half-open probe's slot.
            self._breaker.record_neutral()
            return "CANCELLED"
        if end.failure is None:
            self._breaker.record_success()
            return "OK"
        # Counted as a failure before the first token is: the breaker, and a stall's wait as a
        # latency observation (a deployment that stalls mid-stream falls back in the order).
        self.record_failure(end.failure, end.waited, stream=True)
        return end.failure.reason

    # ---- the deployment's own RPM/TPM -----------------------------------------------------------

    def _demands(self, tokens: int) -> list[tuple[Bucket, float]]:
        limits, key = self.settings.limits, f"deployment:{self.id}"
        demands: list[tuple[Bucket, float]] = []
        if limits.rpm:
            demands.append((rpm_bucket(key, limits.rpm), 1))
        if limits.tpm:
            demands.append((tpm_bucket(key, limits.tpm), tokens))
        return demands

    async def reserve(self, tokens: int) -> None:
        """Take one call and the estimated `tokens` from the deployment's own RPM/TPM (the
        provider's limits), so the gateway sheds before the provider answers 429."""
        limits = self.settings.limits
        if self._limits is None or not (limits.rpm or limits.tpm):
            return
        result = await self._limits.reserve(self._demands(tokens))
        if result.granted:
            return
        if self._metrics is not None:
            self._metrics.ratelimit_rejections.labels("deployment").inc()
        raise GatewayError(
            Reason.DEPLOYMENT_RATE_LIMITED,
            f"deployment {self.id!r} is at its configured rate limit",
            metadata={"deployment": self.id},
            retry_after=result.denial.retry_after_s if result.denial is not None else None,
        )

    async def settle(self, estimated_tokens: int, usage: chat_pb2.Usage | None) -> None:
        """Reconcile the deployment's TPM with the real usage (unknown usage keeps the estimate)."""
        tpm = self.settings.limits.tpm
        if self._limits is None or not tpm or usage is None:
            return
        actual = usage.total_tokens or usage.input_tokens + usage.output_tokens
        if actual != estimated_tokens:
            await self._limits.adjust([(tpm_bucket(f"deployment:{self.id}", tpm), actual - estimated_tokens)])

    # ---- calls, in a bulkhead slot and within the provider's time limits -----------------------

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        """One complete answer within the provider's `total_s`; its latency and the breaker's
        success are recorded. BulkheadFullError when no slot came free."""
        return await self._unary(lambda: self.deployment.provider.chat(call))

    async def embed(self, call: EmbedCall) -> embeddings_pb2.EmbedResponse:
        """Every input's embedding, as `chat` gets an answer (the same slot, time limit, latency
        and breaker)."""
        return await self._unary(lambda: self.deployment.provider.embed(call))

    async def _unary(self, ask: Callable[[], Awaitable[T]]) -> T:
        provider, total_s = self.deployment.provider, self.deployment.provider_settings.timeouts.total_s
        async with self.bulkhead.slot():
            started = self._clock.now()
            try:
                async with asyncio.timeout(total_s):
                    response = await ask()
            except TimeoutError:
                raise GatewayError(
                    Reason.UPSTREAM_TIMEOUT,
                    f"provider {provider.name!r} did not answer within {total_s:g}s",
                    metadata={"provider": provider.name},
                ) from None
            self.latency.add(self._clock.now() - started)
            self._breaker.record_success()
            return response

    async def open_stream(self, call: UpstreamCall) -> FirstContent:
        """A stream read up to its first content, which must come within the provider's
        `first_token_s`; the time it took is recorded. The stream keeps its bulkhead slot until
        `release()`; BulkheadFullError when no slot came free. No breaker success yet: the first
        token shows the deployment can start an answer, not that it can finish one
        (record_stream_end decides)."""
        await self.bulkhead.acquire()
        started = self._clock.now()
        upstream = self.deployment.provider.stream(call)
        items: list[chat_pb2.ChatStreamResponse] = []
        # The gateway's one first-token timer. It counts from the request, not from the response
        # headers, so an upstream that never sends its headers stalls too.
        first_token_s = self.deployment.provider_settings.timeouts.first_token_s
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
            self.bulkhead.release()
            raise _no_first_token(self.provider_name, first_token_s) from None
        except BaseException:
            await upstream.aclose()
            self.bulkhead.release()
            raise
        self.ttft.add(self._clock.now() - started)
        return FirstContent(items, upstream if items and has_content(items[-1]) else None)

    def release(self) -> None:
        """Give back the bulkhead slot an open stream holds."""
        self.bulkhead.release()
