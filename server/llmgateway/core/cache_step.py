"""The response cache's part in a call: its plan (the key includes the tenant and what routing
decides), the lookup with its metric, a hit replayed as a stream, a streamed answer assembled for
storing."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from llmgateway.auth.keys import Principal
from llmgateway.cache.assembly import StreamAssembler
from llmgateway.cache.responses import Answer, CachedRequest, CachePlan, replay
from llmgateway.core.entry import routing_caller
from llmgateway.core.identity import CallerIdentity
from llmgateway.core.runtime import Runtime
from llmgateway.core.served import Served
from llmgateway.observability.call_record import CallRecord
from llmgateway.v1 import chat_pb2


def cache_plan(
    runtime: Runtime, request: CachedRequest, caller: CallerIdentity, who: Principal | None
) -> CachePlan:
    """What the cache does for this call: off unless enabled and the key allows it; the caller's
    cache-control headers may bypass it or change what is stored."""
    scope_caller = routing_caller(who)
    return runtime.responses.plan(
        who.tenant if who is not None else "",
        request,
        caller.headers,
        allowed=who.policy.cache if who is not None else True,
        route=lambda: runtime.router.cache_scope(request, scope_caller),
    )


async def looked_up(
    runtime: Runtime, plan: CachePlan, request: chat_pb2.ChatRequest, call: CallRecord
) -> chat_pb2.ChatResponse | None:
    """The cached answer (the call's outcome then says who served it); None on a miss or when the
    plan does not look up."""
    return await looked_up_as(runtime, plan, request, call, chat_pb2.ChatResponse)


async def looked_up_as(
    runtime: Runtime, plan: CachePlan, request: CachedRequest, call: CallRecord, answer_type: type[Answer]
) -> Answer | None:
    """looked_up, for an answer of `answer_type` (a chat or an embeddings response)."""
    cached = await runtime.responses.get_answer(plan, answer_type)
    result = plan.state if plan.state != "lookup" else "hit" if cached is not None else "miss"
    call.cache = result
    if plan.state != "off":
        call.metrics.cache_requests.labels(result).inc()
    if cached is not None:
        call.model, call.provider = runtime.router.resolve(request.model).name, cached.provider
        call.served = Served(provider=cached.provider, attempts=0, cache="hit")
    return cached


async def replayed(
    cached: chat_pb2.ChatResponse, request_id: str, call: CallRecord
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    """A cached answer as the stream it would have been."""
    for message in replay(cached, request_id):
        if message.HasField("delta") or message.finish_reason:
            call.on_content()
        yield message


def assembler_for(store: bool) -> StreamAssembler | None:
    """An assembler of a stream's answer when it is to be stored or logged."""
    return StreamAssembler() if store else None


def noted(
    messages: AsyncGenerator[chat_pb2.ChatStreamResponse, None], assembler: StreamAssembler | None
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    """The messages, noted for the cache (as the provider gave them) when there is an assembler;
    without one, the messages themselves: a generator layer that only passes each token on costs
    every token a resumption."""
    return messages if assembler is None else _noting(messages, assembler)


async def _noting(
    messages: AsyncGenerator[chat_pb2.ChatStreamResponse, None], assembler: StreamAssembler
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    async with aclosing(messages):
        async for message in messages:
            assembler.add(message)
            yield message


def answer_text(response: chat_pb2.ChatResponse) -> str:
    return "".join(p.text for p in response.message.parts if p.WhichOneof("kind") == "text")
