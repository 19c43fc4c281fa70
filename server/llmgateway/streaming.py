"""Shape a provider's stream into the v1 stream contract.

The contract: a first message naming id, model and provider; then content messages (deltas, with
the finish reason on the last one); usage alone on the final message. A stream that fails after
content was sent ends with reason STREAM_INTERRUPTED and a StreamInterruption detail carrying the
cause and the partial usage — never with OK.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import record as current_record
from llmgateway.v1 import chat_pb2

_CHARS_PER_TOKEN = 4  # a rough, provider-neutral estimate for usage the provider never reported


def _merge_usage(total: chat_pb2.Usage, update: chat_pb2.Usage) -> None:
    # Providers report usage in pieces (Anthropic: input at the start, output at the end) or once;
    # a non-zero figure always replaces the earlier one because each is cumulative.
    for field in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "total_tokens"):
        value = getattr(update, field)
        if value:
            setattr(total, field, value)
    if update.cost_usd:
        total.cost_usd = update.cost_usd


def has_content(message: chat_pb2.ChatStreamResponse) -> bool:
    """Whether an adapter message carries content (a delta or the finish reason), as opposed to
    only usage or the model name."""
    return message.HasField("delta") or message.finish_reason != chat_pb2.FINISH_REASON_UNSPECIFIED


def _partial_usage(usage: chat_pb2.Usage, output_chars: int) -> chat_pb2.Usage:
    """Usage of a stream that ended early: what the provider reported, with the output estimated
    from the text sent when it reported none."""
    partial = chat_pb2.Usage()
    partial.CopyFrom(usage)
    if not partial.output_tokens:
        partial.output_tokens = math.ceil(output_chars / _CHARS_PER_TOKEN)
    partial.total_tokens = partial.input_tokens + partial.output_tokens
    return partial


async def relay(
    upstream: AsyncIterator[chat_pb2.ChatStreamResponse],
    *,
    request_id: str,
    provider: str,
    default_model: str,
    price: Callable[[chat_pb2.Usage], float] | None = None,
) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
    """Yield the v1 stream for `upstream`, which yields adapter messages. The first message is held
    back until the provider sends content, so a failure before it can still go elsewhere. `price`
    fills in the cost of the (final or partial) usage."""
    usage = chat_pb2.Usage()
    observed = current_record()
    model = ""
    started = False
    finished = False
    sent = 0
    output_chars = 0

    def priced(value: chat_pb2.Usage) -> chat_pb2.Usage:
        if price is not None:
            value.cost_usd = price(value)
        if observed is not None:
            observed.usage = value
        return value

    try:
        async for message in upstream:
            if message.HasField("usage"):
                _merge_usage(usage, message.usage)
            model = model or message.model
            if not has_content(message):
                continue
            if not started:
                started = True
                yield chat_pb2.ChatStreamResponse(
                    id=request_id, model=model or default_model, provider=provider
                )
            content = chat_pb2.ChatStreamResponse(finish_reason=message.finish_reason)
            if message.HasField("delta"):
                content.delta.CopyFrom(message.delta)
                output_chars += len(message.delta.text) + len(message.delta.reasoning)
                output_chars += sum(len(t.arguments_json_fragment) for t in message.delta.tool_calls)
            if observed is not None:
                observed.on_content()
            yield content
            sent += 1
        if not started:
            yield chat_pb2.ChatStreamResponse(id=request_id, model=model or default_model, provider=provider)
        if not usage.total_tokens:
            usage.total_tokens = usage.input_tokens + usage.output_tokens
        finished = True
        yield chat_pb2.ChatStreamResponse(usage=priced(usage))
    except GatewayError as error:
        if not started:
            raise
        partial = priced(_partial_usage(usage, output_chars))
        # After the first token the caller holds a partial answer: the status says so in its reason,
        # and the cause moves into the metadata and the StreamInterruption detail.
        raise GatewayError(
            error.code,
            "STREAM_INTERRUPTED",
            f"the stream was interrupted after {sent} content messages: {error.message}",
            metadata={**error.metadata, "cause": error.reason},
            retry_after=error.retry_after,
            interruption=chat_pb2.StreamInterruption(
                reason=error.reason, partial_usage=partial, messages_sent=sent
            ),
        ) from error
    finally:
        if not finished and observed is not None and started and not observed.usage.total_tokens:
            # Cancelled by the caller or its deadline: limits and budgets settle on what was sent.
            priced(_partial_usage(usage, output_chars))
