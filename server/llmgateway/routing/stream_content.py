"""What counts as content in a provider's stream: the first content decides when a stream has
started (routing's failover ends there, the relay's first message goes out)."""

from __future__ import annotations

from llmgateway.v1 import chat_pb2


def has_content(message: chat_pb2.ChatStreamResponse) -> bool:
    """Whether an adapter message carries content (a delta or the finish reason), as opposed to
    only usage or the model name."""
    return message.HasField("delta") or message.finish_reason != chat_pb2.FINISH_REASON_UNSPECIFIED
