"""The ChatService and ModelService servicers: validate, route, relay; proto in, proto out;
nothing provider-specific."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing, contextmanager

import grpc

from llmgateway.auth.context import principal
from llmgateway.cache.responses import CONTROL_HEADER, CachePlan, StreamAssembler, replay
from llmgateway.deadlines import bounded_by_deadline, deadline_of
from llmgateway.errors import GatewayError, shown
from llmgateway.observability.call_record import record as current_record
from llmgateway.pii import PiiFilter
from llmgateway.pricing import cost_usd, prices_for
from llmgateway.reasons import Reason
from llmgateway.routing.router import RouteReport
from llmgateway.routing.rules import Caller
from llmgateway.runtime import Runtime, RuntimeHolder
from llmgateway.shutdown import InFlightCalls, cut_as_error
from llmgateway.streaming import output_cap, relay
from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2, models_pb2, models_pb2_grpc
from llmgateway.validation import validate_request

Context = grpc.aio.ServicerContext[object, object]


async def _replayed(
    cached: chat_pb2.ChatResponse, request_id: str
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    observed = current_record()
    for message in replay(cached, request_id):
        if observed is not None and (message.HasField("delta") or message.finish_reason):
            observed.on_content()
        yield message


async def _assembled(
    messages: AsyncGenerator[chat_pb2.ChatStreamResponse, None], assembler: StreamAssembler | None
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    """Pass messages through, noting them for the cache (as the provider gave them)."""
    async with aclosing(messages):
        async for message in messages:
            if assembler is not None:
                assembler.add(message)
            yield message


def _redacted(
    pii: PiiFilter | None, messages: AsyncGenerator[chat_pb2.ChatStreamResponse, None]
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    return pii.stream(messages) if pii is not None else messages


@contextmanager
def _prompt_charged_if_cut() -> Iterator[None]:
    """A call its caller ends (cancel, deadline) or a shutdown cuts while a provider is working on
    it, before any usage is known, is charged the prompt (CallRecord.charge_prompt); an upstream
    failure is not. A shutdown's cut becomes the error SHUTTING_DOWN (llmgateway/shutdown.py)."""
    try:
        with cut_as_error():
            yield
    except (asyncio.CancelledError, GeneratorExit):
        _charge_prompt()
        raise
    except GatewayError as error:
        if error.reason in (Reason.DEADLINE_EXCEEDED, Reason.SHUTTING_DOWN):
            _charge_prompt()
        raise


def _charge_prompt() -> None:
    observed = current_record()
    if observed is not None:
        observed.charge_prompt()


def _prompt_text(request: chat_pb2.ChatRequest) -> str:
    return "\n".join(
        f"{content_pb2.Role.Name(m.role).removeprefix('ROLE_').lower()}: "
        + "".join(p.text for p in m.parts if p.WhichOneof("kind") == "text")
        for m in request.messages
    )


def _answer_text(response: chat_pb2.ChatResponse) -> str:
    return "".join(p.text for p in response.message.parts if p.WhichOneof("kind") == "text")


def _caller() -> Caller:
    """Who routing rules see as the caller: the authenticated key and tenant, if any."""
    who = principal()
    return Caller(tenant=who.tenant, key_id=who.key_id) if who is not None else Caller()


def report_metadata(report: RouteReport, cache: str) -> tuple[tuple[str, str], ...]:
    """Response metadata telling the caller who served the call, how it got there, and what the
    response cache did (`cache`: miss, bypass or off).

    It goes out as trailing metadata, with the final status. As headers it would cost a batch of its
    own: grpc.aio sends custom initial metadata separately from the response, never with it — about
    0.4 ms of CPU per unary call and a round trip through grpc's completion queue before a stream's
    first token on the benchmark machine (bench/RESULTS.md)."""
    deployment = report.deployment
    assert deployment is not None
    metadata = [
        ("x-llmgateway-provider", deployment.provider.name),
        ("x-llmgateway-deployment", deployment.id),
        ("x-llmgateway-model", report.served_model),
        ("x-llmgateway-attempts", str(len(report.attempts))),
    ]
    if report.fallback:
        metadata.append(("x-llmgateway-fallback", f"{report.requested_model}->{report.served_model}"))
    metadata.append((CONTROL_HEADER, cache))
    return tuple(metadata)


class ChatServicer(chat_pb2_grpc.ChatServiceServicer):
    """Chat and ChatStream. Each call runs on the runtime current when it started, to its end, and
    is tracked in `in_flight` so a shutdown can cut it with a status of its own."""

    def __init__(self, runtimes: RuntimeHolder, in_flight: InFlightCalls) -> None:
        self._runtimes = runtimes
        self._in_flight = in_flight

    @staticmethod
    def _start(
        runtime: Runtime, request: chat_pb2.ChatRequest, context: Context
    ) -> tuple[str, float, CachePlan, PiiFilter | None]:
        request_id = request.request_id or uuid.uuid4().hex
        observed = current_record()
        if observed is not None:
            observed.request_id, observed.requested_model = request_id, shown(request.model)
        validate_request(request, runtime.config.limits)
        deadline = deadline_of(context, runtime.clock.now(), runtime.config.routing.max_call_s)
        if observed is not None and runtime.config.observability.log_content:
            observed.prompt = _prompt_text(request)
        who = principal()
        pii = runtime.pii(who)
        if pii is not None:
            pii.prompts(request)  # before the cache key and before anything leaves the gateway
        plan = runtime.responses.plan(
            who.tenant if who is not None else "",
            request,
            context.invocation_metadata(),
            allowed=who.policy.cache if who is not None else True,
            route=lambda: runtime.router.cache_scope(request, _caller()),
        )
        return request_id, deadline, plan, pii

    @staticmethod
    async def _cached(
        runtime: Runtime, plan: CachePlan, request: chat_pb2.ChatRequest, context: Context
    ) -> chat_pb2.ChatResponse | None:
        """The cached answer, with the response metadata of a hit; None on a miss (or no lookup)."""
        cached = await runtime.responses.get(plan)
        result = plan.state if plan.state != "lookup" else "hit" if cached is not None else "miss"
        observed = current_record()
        if observed is not None:
            observed.cache = result
            if plan.state != "off":
                observed.metrics.cache_requests.labels(result).inc()
        if cached is not None:
            if observed is not None:
                observed.model, observed.provider = (
                    runtime.router.resolve(request.model).name,
                    cached.provider,
                )
            context.set_trailing_metadata(
                (
                    (CONTROL_HEADER, "hit"),
                    ("x-llmgateway-provider", cached.provider),
                    ("x-llmgateway-attempts", "0"),
                )
            )
        return cached

    async def Chat(self, request: chat_pb2.ChatRequest, context: Context) -> chat_pb2.ChatResponse:
        with self._runtimes.use() as runtime, self._in_flight.track():
            request_id, deadline, plan, pii = self._start(runtime, request, context)
            cached = await self._cached(runtime, plan, request, context)
            if cached is not None:
                cached.id = request_id
                cached.usage.cost_usd = 0.0  # a cached answer costs nothing
                if pii is not None:
                    pii.response(cached)
                return cached
            with _prompt_charged_if_cut():
                async with bounded_by_deadline(context, runtime.config.routing.max_call_s):
                    response, report = await runtime.router.chat(
                        request, request.model, request_id, deadline, _caller()
                    )
            context.set_trailing_metadata(report_metadata(report, plan.state_after_miss))
            response.id = request_id
            deployment = report.deployment
            assert deployment is not None
            response.provider = deployment.provider.name
            response.usage.cost_usd = cost_usd(
                prices_for(deployment.settings, response.model or deployment.upstream_model(request.model)),
                response.usage,
            )
            observed = current_record()
            if observed is not None:
                observed.usage = response.usage
            if observed is not None and runtime.config.observability.log_content:
                observed.completion = _answer_text(response)
            await runtime.responses.put(plan, response)  # as the provider gave it; redacted per caller
            if pii is not None:
                pii.response(response)
            return response

    async def ChatStream(
        self, request: chat_pb2.ChatStreamRequest, context: Context
    ) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        # ChatStreamRequest has ChatRequest's fields under the same numbers: one wire form, one model.
        chat_request = chat_pb2.ChatRequest.FromString(request.SerializeToString())
        with self._runtimes.use() as runtime, self._in_flight.track():
            request_id, deadline, plan, pii = self._start(runtime, chat_request, context)
            cached = await self._cached(runtime, plan, chat_request, context)
            if cached is not None:
                async with aclosing(_redacted(pii, _replayed(cached, request_id))) as replayed:
                    async for message in replayed:
                        yield message
                return
            log_content = runtime.config.observability.log_content
            assembler = StreamAssembler() if plan.store or log_content else None
            async with bounded_by_deadline(context, runtime.config.routing.max_call_s):
                with _prompt_charged_if_cut():
                    handle, report = await runtime.router.open_stream(
                        chat_request, request.model, request_id, deadline, _caller()
                    )
                try:
                    context.set_trailing_metadata(report_metadata(report, plan.state_after_miss))
                    upstream_model = handle.deployment.upstream_model(request.model)
                    generation = chat_request.generation_config
                    relayed = relay(
                        handle.messages(),
                        request_id=request_id,
                        provider=handle.deployment.provider.name,
                        default_model=upstream_model,
                        prompt_tokens=handle.prompt_tokens,
                        cap=output_cap(
                            generation.max_output_tokens if generation.HasField("max_output_tokens") else None
                        ),
                        price=functools.partial(handle.deployment.cost, request.model),
                    )
                    async with aclosing(_redacted(pii, _assembled(relayed, assembler))) as messages:
                        async for message in messages:
                            yield message
                finally:
                    await handle.close()
            # Only a stream that ended normally gets here: cut or failed streams are never stored.
            if assembler is not None:
                answer = assembler.result()
                observed = current_record()
                if observed is not None and log_content:
                    observed.completion = _answer_text(answer)
                await runtime.responses.put(plan, answer)


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    """ListModels."""

    def __init__(self, runtimes: RuntimeHolder) -> None:
        self._runtimes = runtimes

    async def ListModels(
        self, request: models_pb2.ListModelsRequest, context: Context
    ) -> models_pb2.ListModelsResponse:
        with self._runtimes.use() as runtime:
            return models_pb2.ListModelsResponse(
                models=runtime.router.describe(),
                upstream_models=await runtime.upstream_models.describe(),
            )
