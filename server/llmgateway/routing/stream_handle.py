"""The stream handle: a routed stream from its first content to its close, when its attempt is
settled (bulkhead slot, span, breaker, attempt metric, TPM), since only then is it known whether
the deployment delivered the whole answer."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import CallRecord
from llmgateway.routing.deployments import Deployment
from llmgateway.routing.telemetry import AttemptSpan, count_attempt
from llmgateway.routing.upstream import FirstContent, StreamEnd, Upstream
from llmgateway.v1 import chat_pb2


class StreamHandle:
    """A stream that has produced its first content. `close()` must be awaited when the caller is
    done, however the stream ended."""

    def __init__(
        self,
        upstream: Upstream,
        first: FirstContent,
        span: AttemptSpan,
        *,
        prompt_tokens: int,
        estimated_tokens: int,
        record: CallRecord | None,
    ) -> None:
        self._upstream = upstream
        self._first = first
        self._span = span
        # The request's estimate, charged if the stream is cut before usage arrives.
        self.prompt_tokens = prompt_tokens
        self._estimated_tokens = estimated_tokens
        # The call's record is passed in, not looked up at close(), which need not run in the
        # call's Context (a stream generator finalised by the event loop runs in another).
        self._record = record
        self._end: StreamEnd | None = None  # None until the upstream ends: then, how it did
        self._usage: chat_pb2.Usage | None = None
        self._closed = False

    @property
    def deployment(self) -> Deployment:
        return self._upstream.deployment

    def _observe(self, item: chat_pb2.ChatStreamResponse) -> None:
        self._span.streamed(item)
        if item.HasField("usage"):
            self._usage = item.usage

    async def messages(self) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        """The stream's messages, noting how the upstream ended, if it did."""
        for item in self._first.items:
            self._observe(item)
            yield item
        rest = self._first.rest
        if rest is None:
            self._end = StreamEnd()
            return
        record = self._record
        while True:
            waiting = time.perf_counter()
            try:
                message = await anext(rest)
            except StopAsyncIteration:
                self._end = StreamEnd()
                return
            except GatewayError as error:
                # The wait is real time, as the stall it may report was timed by the event loop.
                self._end = StreamEnd(error, time.perf_counter() - waiting)
                self._span.failed(error)
                raise
            finally:
                if record is not None:
                    record.upstream_wait_s += time.perf_counter() - waiting
            self._observe(message)
            yield message

    def opening_finish(self) -> chat_pb2.FinishReason.ValueType:
        """How the stream's first content (the message the caller would get first) ends the answer:
        REFUSAL for a refusal delta, else its finish reason (UNSPECIFIED: it goes on). Nothing has
        reached the caller yet, so a refusal here may still go elsewhere (routing/attempts.py)."""
        first = self._first.items[-1] if self._first.items else chat_pb2.ChatStreamResponse()
        if first.delta.refusal:
            return chat_pb2.FINISH_REASON_REFUSAL
        return first.finish_reason

    async def set_aside(self) -> None:
        """Close a stream whose opening declined and that the caller will not get: the deployment
        answered (a success for its breaker), and its attempt is counted as REFUSED."""
        self._end = self._end or StreamEnd()
        await self.close(outcome="REFUSED")

    async def close(self, *, outcome: str | None = None) -> None:
        """Settle the attempt: how the upstream ended (not at all: the gateway stopped reading)
        decides what the breaker and the attempt metric learn (`outcome` overrides the metric's)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._first.rest is not None:
                await self._first.rest.aclose()
        finally:
            self._upstream.release()
            self._span.end()
            ended = self._upstream.record_stream_end(self._end)
            count_attempt(self._record, self._upstream, outcome or ended)
            await self._upstream.settle(self._estimated_tokens, self._usage)
