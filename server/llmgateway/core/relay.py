"""Shape a provider's stream into the v1 stream contract.

The contract: a first message naming id, model and provider; then content messages (deltas, with
the finish reason on the last one); usage alone on the final message. A stream that fails after
content was sent ends with reason STREAM_INTERRUPTED and a StreamInterruption detail carrying the
cause and the partial usage — never with OK.

A stream that ends any other way before its usage arrived — the caller cancelled, its deadline
passed, the server shut down — is charged too, when `relay` is closed: the prompt (as reported, or
estimated) and the output actually sent (as reported, or estimated from its text). Limits, budgets,
metrics and the access log all read that usage after it, because every layer closes the generator
inside it before its own `finally` runs.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from llmgateway.core.shutdown import cut_as_error
from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import record as current_record
from llmgateway.observability.tracing import finish_reason_name
from llmgateway.reasons import Reason
from llmgateway.v1 import chat_pb2

_CHARS_PER_TOKEN = 4  # a rough, provider-neutral estimate for usage the provider never reported
# A provider that goes on past the caller's max_output_tokens is cut once the output sent, estimated
# from its text, passes twice the limit and this many tokens: far enough that no answer within the
# limit is cut for a tokenizer's longer tokens, near enough that a runaway upstream is stopped.
_OUTPUT_CAP_SLACK = 64


def output_cap(max_output_tokens: int | None) -> int | None:
    """The estimated output tokens past which a stream is cut (None: the caller set no limit)."""
    return None if max_output_tokens is None else 2 * max_output_tokens + _OUTPUT_CAP_SLACK


def _merge_usage(total: chat_pb2.Usage, update: chat_pb2.Usage) -> None:
    # Providers report usage in pieces (Anthropic: input at the start, output at the end) or once;
    # a non-zero figure always replaces the earlier one because each is cumulative.
    for field in (
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_input_tokens",
        "reasoning_tokens",
        "total_tokens",
    ):
        value = getattr(update, field)
        if value:
            setattr(total, field, value)
    if update.HasField("cache_write_1h_input_tokens"):
        total.cache_write_1h_input_tokens = update.cache_write_1h_input_tokens
    if update.cost_usd:
        total.cost_usd = update.cost_usd


def _partial_usage(usage: chat_pb2.Usage, output_chars: int, prompt_tokens: int) -> chat_pb2.Usage:
    """Usage of a stream that ended early: what the provider reported, with the prompt estimated
    (`prompt_tokens`) when it reported none (it had read the prompt: the stream had started), and
    at least the output the text sent amounts to. A provider's output count is cumulative and
    reported now and then (Anthropic's first event says 1), so a cut stream's last one can be far
    behind what was delivered."""
    partial = chat_pb2.Usage()
    partial.CopyFrom(usage)
    if not partial.input_tokens:
        partial.input_tokens = prompt_tokens
    partial.output_tokens = max(partial.output_tokens, math.ceil(output_chars / _CHARS_PER_TOKEN))
    partial.total_tokens = partial.input_tokens + partial.output_tokens
    return partial


class _Tally:
    """What a relayed stream has sent and what it amounts to: the provider's usage as reported so
    far, the output characters sent, and the prompt's estimate for when the provider reports none."""

    def __init__(self, prompt_tokens: int, price: Callable[[chat_pb2.Usage], float] | None) -> None:
        self.usage = chat_pb2.Usage()
        self.sent = 0
        self.output_chars = 0
        self._prompt_tokens = prompt_tokens
        self._price = price
        self._observed = current_record()

    def content(
        self,
        message: chat_pb2.ChatStreamResponse,
        has_delta: bool,
        reason: chat_pb2.FinishReason.ValueType,
        cap: int | None,
    ) -> tuple[chat_pb2.ChatStreamResponse, bool]:
        """The v1 content message for an adapter message without usage (whose delta presence and
        finish reason the caller read): the message itself, cleared of the model name it may
        carry (building a copy took five times as long per token). True when it takes the output
        past `cap`: it then carries FINISH_REASON_LENGTH. Each protobuf field is read once here,
        since every read is a lookup by name."""
        message.model = ""
        if has_delta:
            delta = message.delta
            self.output_chars += len(delta.text) + len(delta.reasoning)
            tool_calls = delta.tool_calls
            if tool_calls:  # rare: no generator made for every token
                self.output_chars += sum(len(t.arguments_json_fragment) for t in tool_calls)
        capped = cap is not None and math.ceil(self.output_chars / _CHARS_PER_TOKEN) > cap
        if capped:
            message.finish_reason = reason = chat_pb2.FINISH_REASON_LENGTH
        if self._observed is not None:
            self._observed.on_content()
            if reason:
                self._observed.finish_reason = finish_reason_name(reason)
        return message, capped

    def final(self) -> chat_pb2.Usage:
        """The usage of a stream that ended as its provider ended it."""
        if not self.usage.total_tokens:
            self.usage.total_tokens = self.usage.input_tokens + self.usage.output_tokens
        return self._priced(self.usage)

    def partial(self) -> chat_pb2.Usage:
        """The usage of a stream that ended early (_partial_usage)."""
        return self._priced(_partial_usage(self.usage, self.output_chars, self._prompt_tokens))

    def charged(self) -> bool:
        """Whether the call's record already holds this stream's usage."""
        return self._observed is None or bool(self._observed.usage.total_tokens)

    def _priced(self, value: chat_pb2.Usage) -> chat_pb2.Usage:
        if self._price is not None:
            value.cost_usd = self._price(value)
        if self._observed is not None:
            self._observed.usage = value
        return value


async def relay(
    upstream: AsyncGenerator[chat_pb2.ChatStreamResponse, None],
    *,
    request_id: str,
    provider: str,
    default_model: str,
    prompt_tokens: int,
    cap: int | None = None,
    price: Callable[[chat_pb2.Usage], float] | None = None,
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    """Yield the v1 stream for `upstream`, which yields adapter messages (and is closed when this
    ends). Its content messages are passed on: adapters may name the model on them (it is cleared
    here) but never the id or provider, which only the first message carries. The first message is
    held back until the provider sends content, so a failure before it can still go elsewhere.
    `price` fills in the cost of the (final or partial) usage; `prompt_tokens` is the prompt's
    estimate, charged when the provider reports none. Past `cap` estimated output tokens
    (output_cap) the stream ends with FINISH_REASON_LENGTH and the upstream call is closed."""
    tally = _Tally(prompt_tokens, price)
    model = ""
    started = False
    finished = False
    try:
        with cut_as_error():
            async with aclosing(upstream):
                async for received in upstream:
                    if not model:
                        model = received.model
                    # routing/stream_content.has_content's rule, its fields read once.
                    has_delta = received.HasField("delta")
                    reason = received.finish_reason
                    message = received
                    if received.HasField("usage"):
                        _merge_usage(tally.usage, received.usage)
                        # Usage goes out alone on the last message: the content is taken apart.
                        message = chat_pb2.ChatStreamResponse(delta=received.delta if has_delta else None)
                        message.finish_reason = reason
                    if not has_delta and not reason:
                        continue
                    if not started:
                        started = True
                        yield chat_pb2.ChatStreamResponse(
                            id=request_id, model=model or default_model, provider=provider
                        )
                    content, capped = tally.content(message, has_delta, reason, cap)
                    yield content
                    tally.sent += 1
                    if capped:
                        tally.usage.CopyFrom(tally.partial())
                        break  # the upstream is closed on the way out
        if not started:
            yield chat_pb2.ChatStreamResponse(id=request_id, model=model or default_model, provider=provider)
        finished = True
        yield chat_pb2.ChatStreamResponse(usage=tally.final())
    except GatewayError as error:
        if not started:
            raise
        # After the first token the caller holds a partial answer: the status says so in its reason,
        # and the cause moves into the metadata and the StreamInterruption detail.
        raise GatewayError(
            Reason.STREAM_INTERRUPTED,
            f"the stream was interrupted after {tally.sent} content messages: {error.message}",
            metadata={**error.metadata, "cause": error.reason},
            retry_after=error.retry_after,
            interruption=chat_pb2.StreamInterruption(
                reason=error.reason, partial_usage=tally.partial(), messages_sent=tally.sent
            ),
            code_override=error.code,
        ) from error
    finally:
        if not finished and not tally.charged():
            # Cancelled by the caller or its deadline, or cut by a shutdown: limits and budgets
            # settle on the prompt and what was sent.
            tally.partial()
