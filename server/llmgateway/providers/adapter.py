"""The shape of every HTTP adapter. `HttpAdapter` owns the call: the HTTP exchange, the stream's
framing and pacing, the stream state, and what ends a stream (its terminator, or a cut). A protocol
supplies the four parts that differ, each in a module of its folder: the request (`request`), the
parsing of an answer (`answer`), the mapping of stream events (`events`, a `StreamEvents`), and the
mapping of errors (an `UpstreamErrors`).
"""

from __future__ import annotations

import abc
import urllib.parse
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from llmgateway.config import ProviderSettings
from llmgateway.providers.base import Provider, ProviderContext, UpstreamCall
from llmgateway.providers.errors import UpstreamErrors, json_object_body, stream_cut
from llmgateway.providers.http.answer import Answer
from llmgateway.providers.http.client import UpstreamClient
from llmgateway.providers.http.decoding import decoded
from llmgateway.providers.http.framing import Framing
from llmgateway.providers.http.pacing import paced_stream
from llmgateway.providers.wire_json import JSON_CONTENT, loads_object
from llmgateway.v1 import chat_pb2

Event = TypeVar("Event")


@dataclass(frozen=True, slots=True)
class WireRequest:
    """A request as the protocol builds it, for the adapter to send."""

    path: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: JSON_CONTENT)
    params: Mapping[str, str] | None = None


@dataclass
class StreamState:
    """What a stream has shown so far."""

    request_id: str
    model: str = ""
    # The provider's key for each tool call the stream started (a content block index, a fragment
    # index) → the call's index in v1, counted from 0 in the order they started.
    tool_calls: dict[object, int] = field(default_factory=dict)
    # The same for reasoning parts (Delta.reasoning_index).
    reasoning: dict[object, int] = field(default_factory=dict)
    # The provider has said the answer is whole; a body that ends before that is a cut stream.
    finished: bool = False
    # Nothing more is to be read (its terminator came): the adapter stops reading here.
    terminated: bool = False

    def start_tool_call(self, key: object) -> int:
        """The v1 index of a tool call starting now under the provider's `key`."""
        index = self.tool_calls[key] = len(self.tool_calls)
        return index

    def reasoning_index(self, key: object) -> int:
        """The v1 index of the reasoning part under the provider's `key`, numbered in the order
        the parts started."""
        if key not in self.reasoning:
            self.reasoning[key] = len(self.reasoning)
        return self.reasoning[key]

    def terminate(self) -> None:
        self.finished = self.terminated = True


class StreamEvents(abc.ABC, Generic[Event]):
    """One stream's events → v1 stream messages, for one protocol."""

    def __init__(self, errors: UpstreamErrors, call: UpstreamCall) -> None:
        self.errors = errors
        self.state = StreamState(call.request_id)

    @abc.abstractmethod
    def messages(self, event: Event) -> list[chat_pb2.ChatStreamResponse]:
        """The messages one event carries (often none); it may finish or terminate the stream."""

    @abc.abstractmethod
    def missing(self) -> str:
        """What a stream that ended unfinished lacked, for its UPSTREAM_STREAM_CUT."""

    def json_object(self, text: str | bytes, complaint: str) -> dict[str, Any]:
        """An event's JSON object; UPSTREAM_MALFORMED_RESPONSE saying `complaint` otherwise."""
        payload = loads_object(text)
        if payload is None:
            raise self.errors.malformed(complaint)
        return payload


class HttpAdapter(Provider, Generic[Event]):
    """A provider reached over HTTP, one pooled client per configured provider. Every protocol's
    adapter is made the same way, `Adapter(settings, context)`."""

    framing: ClassVar[Framing[Any]]

    def __init__(
        self,
        settings: ProviderSettings,
        context: ProviderContext,
        *,
        base_url: str,
        headers: Mapping[str, str],
        errors: UpstreamErrors,
    ) -> None:
        super().__init__(settings.name)
        self.settings = settings
        self.media = context.media
        self.errors = errors
        self.http = UpstreamClient(settings, base_url, headers)
        parsed = urllib.parse.urlsplit(base_url)
        self._server_endpoint = (
            parsed.hostname or "",
            parsed.port or (443 if parsed.scheme == "https" else 80),
        )

    @property
    def endpoint(self) -> tuple[str, int] | None:
        return self._server_endpoint

    async def aclose(self) -> None:
        await self.http.aclose()

    # ---- what each protocol supplies ------------------------------------------------------------

    @abc.abstractmethod
    async def request(self, call: UpstreamCall, *, stream: bool) -> WireRequest:
        """The request for `call`, unary or streamed."""

    @abc.abstractmethod
    def answer(self, payload: dict[str, Any], call: UpstreamCall) -> chat_pb2.ChatResponse:
        """A unary answer's JSON object as a v1 response."""

    @abc.abstractmethod
    def events(self, call: UpstreamCall) -> StreamEvents[Event]:
        """The event mapping for one stream of `call`."""

    # ---- the call -------------------------------------------------------------------------------

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        return self.answer(await self.exchange(await self.request(call, stream=False)), call)

    async def exchange(self, wire: WireRequest) -> dict[str, Any]:
        """POST a unary request; the answer's JSON object, or the provider's error as a GatewayError."""
        answer = await self.http.post(wire.path, content=wire.body, headers=wire.headers, params=wire.params)
        if answer.status != 200:
            raise self.errors.from_answer(answer)
        return json_object_body(self.name, answer.body)

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        wire = await self.request(call, stream=True)
        events = self.events(call)
        async with self.http.stream(
            wire.path, content=wire.body, headers=wire.headers, params=wire.params
        ) as answer:
            if answer.status != 200:
                raise self.errors.from_answer(await self.http.read(answer))
            content_type = answer.headers.get("content-type", "")
            if not self.framing.accepts(content_type):
                raise self.errors.malformed(
                    f"content type {content_type!r} is not {self.framing.description}"
                )
            framed = self.framing.events(
                decoded(answer, self.name), self.name, self.settings.max_stream_event_bytes
            )
            # Pacing bounds the gaps between events; the router's timer bounds the first.
            async with paced_stream(framed, self.name, self.settings.timeouts.between_tokens_s) as paced:
                async for event in paced:
                    for message in events.messages(event):
                        yield message
                    if events.state.terminated:
                        return
        if not events.state.finished:
            raise stream_cut(self.name, events.missing())

    async def post_json(self, wire: WireRequest) -> tuple[dict[str, Any], Answer]:
        """POST a request that is answered with one JSON object (an embeddings batch), failing as a
        chat call would unless it answers 200: the object, and the answer (for its headers)."""
        answer = await self.http.post(wire.path, content=wire.body, headers=wire.headers, params=wire.params)
        if answer.status != 200:
            raise self.errors.from_answer(answer)
        return json_object_body(self.name, answer.body), answer

    async def fetch(self, path: str, params: Mapping[str, str] | None = None) -> Answer:
        """GET `path` (a model list), failing as a chat call would unless it answers 200."""
        answer = await self.http.get(path, params=params)
        if answer.status != 200:
            raise self.errors.from_answer(answer)
        return answer
