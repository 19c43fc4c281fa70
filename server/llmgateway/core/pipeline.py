"""The core's entries: one for a unary chat call, one for a stream, one for embeddings, one for the
model list. Each takes a v1 request and a CallerIdentity, runs the call through the pipeline (core/entry.py's way in,
then validation, PII, the response cache and the router) and owns the call's outcome record, which
it settles when the call ends: limits and budgets (Entry), cache fill, metrics and access log."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing, contextmanager

from llmgateway.core import report
from llmgateway.core.cache_step import (
    answer_text,
    assembler_for,
    cache_plan,
    looked_up,
    looked_up_as,
    noted,
    replayed,
)
from llmgateway.core.counting import as_chat_request, count_tokens
from llmgateway.core.deadlines import bounded_by_deadline, cancellation_code, deadline_of
from llmgateway.core.embed_validation import validate_embed_request
from llmgateway.core.entry import Entry, authenticated, routing_caller
from llmgateway.core.fairness import let_ready_io_run
from llmgateway.core.identity import CallerIdentity
from llmgateway.core.load_shedding import LoadShedder
from llmgateway.core.prompt_charge import prompt_charged_if_cut
from llmgateway.core.relay import output_cap, relay
from llmgateway.core.runtime import Runtime, RuntimeHolder
from llmgateway.core.served import Served
from llmgateway.core.shutdown import InFlightCalls
from llmgateway.core.validation import validate_request
from llmgateway.errors import GatewayError, as_gateway_error, shown
from llmgateway.ledger.recorder import Ledger
from llmgateway.observability.call_record import CallRecord, current_call
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.observability.tracing import finish_reason_name
from llmgateway.providers.cache_breakpoints import asks_long_cache
from llmgateway.reasons import Code
from llmgateway.redaction.policy import PiiFilter
from llmgateway.routing.kinds import RoutedRequest
from llmgateway.routing.pricing import cost_usd
from llmgateway.routing.router import RouteReport
from llmgateway.v1 import chat_pb2, content_pb2, embeddings_pb2, models_pb2


def _prompt_text(request: chat_pb2.ChatRequest) -> str:
    return "\n".join(
        f"{content_pb2.Role.Name(m.role).removeprefix('ROLE_').lower()}: "
        + "".join(p.text for p in m.parts if p.WhichOneof("kind") == "text")
        for m in request.messages
    )


def _served(report_: RouteReport, cache: str) -> Served:
    deployment = report_.deployment
    assert deployment is not None
    return Served(
        provider=deployment.provider.name,
        attempts=len(report_.attempts),
        cache=cache,
        deployment=deployment.id,
        model=report_.served_model,
        fallback_from=report_.requested_model if report_.fallback else "",
    )


def _redacted(
    pii: PiiFilter | None, messages: AsyncGenerator[chat_pb2.ChatStreamResponse, None]
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    return pii.stream(messages) if pii is not None else messages


def _as_gateway_error(raised: BaseException) -> BaseException:
    """A cancellation as it is; any exception as a GatewayError (errors.as_gateway_error)."""
    return as_gateway_error(raised) if isinstance(raised, Exception) else raised


class _Prepared:
    """A call past its entry: its id, deadline, cache plan and PII filter."""

    __slots__ = ("deadline", "pii", "plan", "request_id")

    def __init__(
        self, entry: Entry, request: chat_pb2.ChatRequest, caller: CallerIdentity, call: CallRecord
    ) -> None:
        runtime, who = entry.runtime, entry.who
        self.request_id = request.request_id or uuid.uuid4().hex
        call.request_id = self.request_id
        validate_request(request, runtime.config.limits)
        self.deadline = deadline_of(
            caller.time_remaining(), runtime.clock.now(), runtime.config.routing.max_call_s
        )
        if runtime.config.observability.log_content:
            call.prompt = _prompt_text(request)
        self.pii: PiiFilter | None = runtime.pii(who)
        if self.pii is not None:
            self.pii.prompts(request)  # before the cache key and before anything leaves the gateway
        self.plan = cache_plan(runtime, request, caller, who)


class Core:
    """The pipeline every front door calls. `max_concurrent_calls` bounds the chat calls in flight
    (load shedding); `access_log` writes a line per chat call; `ledger` records every call."""

    def __init__(
        self,
        runtimes: RuntimeHolder,
        in_flight: InFlightCalls,
        metrics: GatewayMetrics,
        *,
        max_concurrent_calls: int,
        access_log: bool,
        ledger: Ledger | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._runtimes = runtimes
        self._wall = wall  # epoch seconds: when a call started (the ledger's time, budget periods)
        self._ledger = ledger
        self._in_flight = in_flight
        self._metrics = metrics
        self._shedder = LoadShedder(max_concurrent_calls)
        self._access_log = access_log

    def _record(self, method: str, request: RoutedRequest, caller: CallerIdentity) -> CallRecord:
        return CallRecord(
            method=method,
            metrics=self._metrics,
            frontend=caller.frontend,
            requested_model=shown(request.model),
            labels=request.labels,  # live: the key's policy labels join them on the way in
        )

    def _entry(self, request: RoutedRequest, caller: CallerIdentity, call: CallRecord) -> Entry:
        return Entry(
            self._runtimes, self._in_flight, self._shedder, request=request, caller=caller, call=call
        )

    @contextmanager
    def _settled(self, call: CallRecord, caller: CallerIdentity) -> Iterator[None]:
        """The life of a call's record: begun, then reported once however the call ends; an
        exception that is no GatewayError (a bug) leaves as INTERNAL (_as_gateway_error)."""
        call.started, call.started_at = time.perf_counter(), self._wall()
        # The router and the stream relay add what they learn through this variable (they run in
        # the call's task); cleared when the call ends.
        current_call.set(call)
        report.begun(call)
        error: BaseException | None = None
        try:
            yield
        except BaseException as raised:
            error = _as_gateway_error(raised)
            if error is raised:
                raise
            raise error from raised
        finally:
            self._ended(call, caller, error)

    def _ended(self, call: CallRecord, caller: CallerIdentity, error: BaseException | None) -> None:
        if error is None:
            code = Code.OK
        elif isinstance(error, GatewayError):
            call.reason = error.reason
            code = error.code
        else:
            code = cancellation_code(caller.time_remaining())
        current_call.set(None)
        report.ended(call, code, access_log=self._access_log, ledger=self._ledger)

    async def chat(
        self, request: chat_pb2.ChatRequest, caller: CallerIdentity
    ) -> tuple[chat_pb2.ChatResponse, CallRecord]:
        """A unary chat call: its response and outcome, or a GatewayError (the outcome is settled
        either way)."""
        call = self._record("Chat", request, caller)
        with self._settled(call, caller):
            return await self._chat(request, caller, call), call

    async def _chat(
        self, request: chat_pb2.ChatRequest, caller: CallerIdentity, call: CallRecord
    ) -> chat_pb2.ChatResponse:
        async with self._entry(request, caller, call) as entry:
            runtime = entry.runtime
            prepared = _Prepared(entry, request, caller, call)
            cached = await looked_up(runtime, prepared.plan, request, call)
            if cached is not None:
                cached.id = prepared.request_id
                cached.usage.cost_usd = 0.0  # a cached answer costs nothing
                if prepared.pii is not None:
                    prepared.pii.response(cached)
                return cached
            with prompt_charged_if_cut(call):
                async with bounded_by_deadline(caller.time_remaining(), runtime.config.routing.max_call_s):
                    response, route = await runtime.router.chat(
                        request,
                        request.model,
                        prepared.request_id,
                        prepared.deadline,
                        routing_caller(entry.who),
                    )
            call.served = _served(route, prepared.plan.state_after_miss)
            return await self._answered(runtime, request, response, route=route, prepared=prepared, call=call)

    @staticmethod
    async def _answered(
        runtime: Runtime,
        request: chat_pb2.ChatRequest,
        response: chat_pb2.ChatResponse,
        *,
        route: RouteReport,
        prepared: _Prepared,
        call: CallRecord,
    ) -> chat_pb2.ChatResponse:
        """A provider's answer, priced, stored in the cache as the provider gave it, then redacted
        for this caller."""
        response.id = prepared.request_id
        deployment = route.deployment
        assert deployment is not None
        response.provider = deployment.provider.name
        response.usage.cost_usd = cost_usd(
            deployment.answer_prices(response.model, request.model),
            response.usage,
            long_cache_writes=asks_long_cache(request),
        )
        call.usage = response.usage
        call.finish_reason = finish_reason_name(response.finish_reason)
        if runtime.config.observability.log_content:
            call.completion = answer_text(response)
        await runtime.responses.put(prepared.plan, response)
        if prepared.pii is not None:
            prepared.pii.response(response)
        return response

    def chat_stream(
        self, request: chat_pb2.ChatRequest, caller: CallerIdentity
    ) -> tuple[AsyncGenerator[chat_pb2.ChatStreamResponse, None], CallRecord]:
        """A streaming chat call: its messages (a GatewayError may end them) and its outcome, filled
        in as the stream runs and settled when it ends. Nothing happens until the messages are
        iterated; they must be closed (aclose) if not iterated to their end."""
        call = self._record("ChatStream", request, caller)
        return self._stream(request, caller, call), call

    async def _stream(
        self, request: chat_pb2.ChatRequest, caller: CallerIdentity, call: CallRecord
    ) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        with self._settled(call, caller):
            async with (
                self._entry(request, caller, call) as entry,
                aclosing(self._streamed(entry, request, caller, call)) as messages,
            ):
                async for message in messages:
                    yield message
                # The stream's end (its upstream closed, its attempt settled) and the call's
                # settlement (limits, ledger, access log) are one stretch of the loop otherwise.
                await let_ready_io_run()

    async def _streamed(
        self, entry: Entry, request: chat_pb2.ChatRequest, caller: CallerIdentity, call: CallRecord
    ) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        runtime = entry.runtime
        prepared = _Prepared(entry, request, caller, call)
        pii = prepared.pii
        cached = await looked_up(runtime, prepared.plan, request, call)
        if cached is not None:
            async with aclosing(_redacted(pii, replayed(cached, prepared.request_id, call))) as messages:
                async for message in messages:
                    yield message
            return
        log_content = runtime.config.observability.log_content
        plan = prepared.plan
        assembler = assembler_for(plan.store or log_content)
        # The setup so far and the routing after it are one stretch of the loop otherwise.
        await let_ready_io_run()
        async with bounded_by_deadline(caller.time_remaining(), runtime.config.routing.max_call_s):
            with prompt_charged_if_cut(call):
                handle, route = await runtime.router.open_stream(
                    request, request.model, prepared.request_id, prepared.deadline, routing_caller(entry.who)
                )
            try:
                call.served = _served(route, plan.state_after_miss)
                generation = request.generation_config
                relayed = relay(
                    handle.messages(),
                    request_id=prepared.request_id,
                    provider=handle.deployment.provider.name,
                    default_model=handle.deployment.upstream_model(request.model),
                    prompt_tokens=handle.prompt_tokens,
                    cap=output_cap(
                        generation.max_output_tokens if generation.HasField("max_output_tokens") else None
                    ),
                    price=functools.partial(
                        handle.deployment.cost, request.model, long_cache_writes=asks_long_cache(request)
                    ),
                )
                async with aclosing(_redacted(pii, noted(relayed, assembler))) as messages:
                    async for message in messages:
                        yield message
            finally:
                await handle.close()
        # Only a stream that ended normally gets here: cut or failed streams are never stored.
        if assembler is not None:
            answer = assembler.result()
            if log_content:
                call.completion = answer_text(answer)
            await runtime.responses.put(plan, answer)

    async def embed(
        self, request: embeddings_pb2.EmbedRequest, caller: CallerIdentity
    ) -> tuple[embeddings_pb2.EmbedResponse, CallRecord]:
        """An embeddings call, through the same entry, cache, routing and settlement as a chat
        call: its response and outcome, or a GatewayError (the outcome is settled either way)."""
        call = self._record("Embed", request, caller)
        with self._settled(call, caller):
            return await self._embed(request, caller, call), call

    async def _embed(
        self, request: embeddings_pb2.EmbedRequest, caller: CallerIdentity, call: CallRecord
    ) -> embeddings_pb2.EmbedResponse:
        async with self._entry(request, caller, call) as entry:
            runtime = entry.runtime
            request_id = call.request_id = request.request_id or uuid.uuid4().hex
            validate_embed_request(request, runtime.config.limits)
            max_call_s = runtime.config.routing.max_call_s
            deadline = deadline_of(caller.time_remaining(), runtime.clock.now(), max_call_s)
            pii = runtime.pii(entry.who)
            if pii is not None:
                pii.inputs(request)  # before the cache key and before anything leaves the gateway
            if runtime.config.observability.log_content:
                call.prompt = "\n".join(request.inputs)
            plan = cache_plan(runtime, request, caller, entry.who)
            cached = await looked_up_as(runtime, plan, request, call, embeddings_pb2.EmbedResponse)
            if cached is not None:
                cached.id = request_id
                cached.usage.cost_usd = 0.0  # a cached answer costs nothing
                return cached
            with prompt_charged_if_cut(call):
                async with bounded_by_deadline(caller.time_remaining(), max_call_s):
                    response, route = await runtime.router.embed(
                        request, request.model, request_id, deadline, routing_caller(entry.who)
                    )
            call.served = _served(route, plan.state_after_miss)
            deployment = route.deployment
            assert deployment is not None
            response.id, response.provider = request_id, deployment.provider.name
            response.usage.cost_usd = cost_usd(
                deployment.answer_prices(response.model, request.model),
                response.usage,
            )
            call.usage = response.usage
            await runtime.responses.put(plan, response)
            return response

    async def count_tokens(
        self, request: chat_pb2.CountTokensRequest, caller: CallerIdentity
    ) -> tuple[chat_pb2.CountTokensResponse, CallRecord]:
        """A token count (core/counting.py: what it shares with a chat call and what it skips), and
        its outcome; the outcome is settled either way, under the method CountTokens."""
        chat_request = as_chat_request(request)
        call = self._record("CountTokens", chat_request, caller)
        with self._settled(call, caller), self._runtimes.use() as runtime:
            self._shedder.enter()
            try:
                return await count_tokens(runtime, chat_request, caller, call), call
            finally:
                self._shedder.leave()

    async def list_models(self, caller: CallerIdentity) -> models_pb2.ListModelsResponse:
        """The configured models and what each provider offers; needs a valid key like chat calls."""
        with self._runtimes.use() as runtime:
            authenticated(runtime, caller)
            return models_pb2.ListModelsResponse(
                models=runtime.router.describe(), upstream_models=await runtime.upstream_models.describe()
            )
