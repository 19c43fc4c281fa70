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

import asyncio
import math
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import record as current_record
from llmgateway.shutdown import shutting_down, was_cut
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


def _content(message: chat_pb2.ChatStreamResponse) -> tuple[chat_pb2.ChatStreamResponse, int]:
    """The v1 content message for an adapter message, and the characters of output it carries."""
    content = chat_pb2.ChatStreamResponse(finish_reason=message.finish_reason)
    if not message.HasField("delta"):
        return content, 0
    delta = message.delta
    content.delta.CopyFrom(delta)
    chars = (
        len(delta.text) + len(delta.reasoning) + sum(len(t.arguments_json_fragment) for t in delta.tool_calls)
    )
    return content, chars


async def relay(
    upstream: AsyncGenerator[chat_pb2.ChatStreamResponse, None],
    *,
    request_id: str,
    provider: str,
    default_model: str,
    prompt_tokens: int,
    price: Callable[[chat_pb2.Usage], float] | None = None,
) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
    """Yield the v1 stream for `upstream`, which yields adapter messages (and is closed when this
    ends). The first message is held back until the provider sends content, so a failure before it
    can still go elsewhere. `price` fills in the cost of the (final or partial) usage;
    `prompt_tokens` is the prompt's estimate, charged when the provider reports none."""
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
        try:
            async with aclosing(upstream):
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
                    content, chars = _content(message)
                    output_chars += chars
                    if observed is not None:
                        observed.on_content()
                    yield content
                    sent += 1
        except asyncio.CancelledError:
            if not was_cut():
                raise
            raise shutting_down() from None
        if not started:
            yield chat_pb2.ChatStreamResponse(id=request_id, model=model or default_model, provider=provider)
        if not usage.total_tokens:
            usage.total_tokens = usage.input_tokens + usage.output_tokens
        finished = True
        yield chat_pb2.ChatStreamResponse(usage=priced(usage))
    except GatewayError as error:
        if not started:
            raise
        partial = priced(_partial_usage(usage, output_chars, prompt_tokens))
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
        if not finished and observed is not None and not observed.usage.total_tokens:
            # Cancelled by the caller or its deadline, or cut by a shutdown: limits and budgets
            # settle on the prompt and what was sent.
            priced(_partial_usage(usage, output_chars, prompt_tokens))
