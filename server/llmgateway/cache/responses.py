"""The exact-match response cache: which calls may use it, their keys, and answers stored and
replayed as v1 messages (a stream's answer is assembled from its messages; a cached answer asked
for as a stream replays as one).

The key is the tenant, what routing decides for the call (the model route, or the rule whose
deployments serve it: labels, the caller's key and the time of day can send the same request to
different models), and every field that changes the answer: the whole request except its
`request_id` and `labels`, serialized deterministically. Answers are never shared across tenants,
and errors and interrupted streams are never stored.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from llmgateway.cache.assembly import message_deltas
from llmgateway.cache.backend import CacheBackend
from llmgateway.config import CacheSettings
from llmgateway.v1 import chat_pb2, embeddings_pb2

# What the cache keys (a chat or an embeddings request) and what it stores (their answers).
CachedRequest = chat_pb2.ChatRequest | embeddings_pb2.EmbedRequest
Answer = TypeVar("Answer", chat_pb2.ChatResponse, embeddings_pb2.EmbedResponse)

CONTROL_HEADER = "x-llmgateway-cache"  # request: bypass | no-store; response: hit | miss | bypass | off
TTL_HEADER = "x-llmgateway-cache-ttl"  # request: seconds to keep this answer


@dataclass(frozen=True)
class CachePlan:
    """What the cache does for one call."""

    state: str  # "off", "bypass" or "lookup" (then "hit" or "miss")
    key: str = ""
    store: bool = False
    ttl_s: float = 0.0

    @property
    def state_after_miss(self) -> str:
        """The response metadata value when the call went upstream."""
        return "miss" if self.state == "lookup" else self.state


def _metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in metadata or () if isinstance(v, str)}


def cache_key(tenant: str, route: str, request: CachedRequest) -> str:
    """The key of a request's answer for a tenant, when routing sends it to `route`. An embeddings
    request is keyed in a space of its own (its message name leads), so it can never share a key
    with a chat request whose bytes happen to match."""
    canonical = type(request).FromString(request.SerializeToString())
    canonical.ClearField("request_id")
    canonical.ClearField("labels")
    if isinstance(canonical, chat_pb2.ChatRequest):
        # A hint to the provider's prompt cache, never a change to the answer.
        canonical.generation_config.ClearField("prompt_cache_key")
    scope = tenant.encode() + b"\0" + route.encode() + b"\0"
    if isinstance(request, embeddings_pb2.EmbedRequest):
        scope = request.DESCRIPTOR.full_name.encode() + b"\0" + scope
    return hashlib.sha256(scope + canonical.SerializeToString(deterministic=True)).hexdigest()


class ResponseCache:
    """Answers by key on a cache backend."""

    def __init__(self, backend: CacheBackend, settings: CacheSettings) -> None:
        self._backend = backend
        self._settings = settings

    def plan(
        self,
        tenant: str,
        request: CachedRequest,
        metadata: Iterable[tuple[str, str | bytes]] | None,
        *,
        allowed: bool,
        route: Callable[[], str],
    ) -> CachePlan:
        """Off unless enabled and the caller's key allows it; `bypass` skips it for one call,
        `no-store` reads but does not store, a TTL header shortens or lengthens the stay. `route`
        says what routing decides for the call (asked only when the cache is looked up)."""
        if not self._settings.enabled or not allowed:
            return CachePlan("off")
        headers = _metadata(metadata)
        control = headers.get(CONTROL_HEADER, "").strip().lower()
        if control == "bypass":
            return CachePlan("bypass")
        ttl = self._settings.ttl_s
        with contextlib.suppress(ValueError):  # an unreadable TTL header keeps the configured TTL
            ttl = max(0.0, float(headers[TTL_HEADER])) if TTL_HEADER in headers else ttl
        return CachePlan(
            "lookup", cache_key(tenant, route(), request), store=control != "no-store" and ttl > 0, ttl_s=ttl
        )

    async def get(self, plan: CachePlan) -> chat_pb2.ChatResponse | None:
        return await self.get_answer(plan, chat_pb2.ChatResponse)

    async def get_answer(self, plan: CachePlan, answer_type: type[Answer]) -> Answer | None:
        """The stored answer of the plan's key, as `answer_type` (the key says which kind it is)."""
        if plan.state != "lookup":
            return None
        data = await self._backend.get(plan.key)
        return answer_type.FromString(data) if data is not None else None

    async def put(
        self, plan: CachePlan, response: chat_pb2.ChatResponse | embeddings_pb2.EmbedResponse
    ) -> None:
        if plan.state == "lookup" and plan.store:
            await self._backend.set(plan.key, response.SerializeToString(), plan.ttl_s)


def replay(response: chat_pb2.ChatResponse, request_id: str) -> Iterator[chat_pb2.ChatStreamResponse]:
    """A cached answer as a stream: the first message, text word by word, other parts whole
    (assembly.message_deltas), the finish reason, then usage."""
    yield chat_pb2.ChatStreamResponse(id=request_id, model=response.model, provider=response.provider)
    for delta in message_deltas(response.message):
        yield chat_pb2.ChatStreamResponse(delta=delta)
    yield chat_pb2.ChatStreamResponse(finish_reason=response.finish_reason)
    usage = chat_pb2.Usage()
    usage.CopyFrom(response.usage)
    usage.cost_usd = 0.0  # a cached answer costs nothing
    yield chat_pb2.ChatStreamResponse(usage=usage)
