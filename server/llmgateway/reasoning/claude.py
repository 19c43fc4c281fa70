"""Extended thinking for Claude, as Anthropic's Messages API and Bedrock's Converse take it:
`thinking: {type: enabled, budget_tokens}`, with the rules both enforce.

- The budget is at least 1,024 tokens and below the output cap (`max_tokens`). An effort's budget
  (budget.py) is lowered to fit a cap the caller set; a budget the caller set is not: a cap at or
  below it is the caller's error. Without a cap, the cap is the budget plus the usual answer
  length, so thinking does not eat the answer.
- Sampling is fixed while thinking: temperature only 1, top_p from 0.95, no top_k. Other values are
  refused (UNSUPPORTED_CAPABILITY), never dropped.
- Tool choice may only be auto or none (the caller sees UNSUPPORTED_CAPABILITY for forcing a tool).
"""

from __future__ import annotations

from typing import Any

from llmgateway.errors import FieldViolation, invalid_argument, unsupported_capability
from llmgateway.reasoning.ask import ReasoningAsk
from llmgateway.reasoning.budget import budget_for
from llmgateway.v1 import chat_pb2, content_pb2

MIN_BUDGET = 1024
_FORCED = (content_pb2.ToolChoice.MODE_REQUIRED, content_pb2.ToolChoice.MODE_TOOL)


def _refuse_sampling(provider: str, config: chat_pb2.GenerationConfig) -> None:
    if config.HasField("temperature") and round(config.temperature, 6) != 1:
        raise unsupported_capability(provider, "a temperature other than 1 with extended thinking")
    if config.HasField("top_p") and round(config.top_p, 6) < 0.95:
        raise unsupported_capability(provider, "top_p below 0.95 with extended thinking")
    if config.HasField("top_k"):
        raise unsupported_capability(provider, "top_k with extended thinking")


def thinking(
    provider: str, request: chat_pb2.ChatRequest, ask: ReasoningAsk, default_max_tokens: int
) -> tuple[dict[str, Any], int]:
    """The `thinking` object and the `max_tokens` to send with it."""
    config = request.generation_config
    _refuse_sampling(provider, config)
    if request.tools and request.tool_choice.mode in _FORCED:
        raise unsupported_capability(provider, "forcing a tool call with extended thinking")
    budget = budget_for(ask)
    if budget < MIN_BUDGET:
        raise unsupported_capability(provider, f"a thinking budget below {MIN_BUDGET} tokens")
    if not config.HasField("max_output_tokens"):
        return {"type": "enabled", "budget_tokens": budget}, budget + default_max_tokens
    cap = config.max_output_tokens
    if ask.budget_tokens is None:
        budget = min(budget, cap - 1)
    if budget < MIN_BUDGET or budget >= cap:
        raise invalid_argument(
            [
                FieldViolation(
                    "generation_config.max_output_tokens",
                    f"must be above the thinking budget ({max(budget, MIN_BUDGET)} tokens; "
                    f"{provider!r} thinks at least {MIN_BUDGET})",
                )
            ]
        )
    return {"type": "enabled", "budget_tokens": budget}, cap
