"""An effort as a thinking budget, for the protocols that take a budget only (Anthropic, Bedrock
Claude, Gemini 2.5). The figures follow the providers' guidance: Anthropic's minimum budget is 1,024
tokens, and budgets above ~32k are rarely used in full."""

from __future__ import annotations

from llmgateway.reasoning.ask import ReasoningAsk

EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
# The budget when a request asks for reasoning by include_thoughts alone.
DEFAULT_BUDGET = EFFORT_BUDGETS["medium"]


def budget_for(ask: ReasoningAsk) -> int:
    """The budget `ask` gives, or its effort's."""
    if ask.budget_tokens is not None:
        return ask.budget_tokens
    return EFFORT_BUDGETS.get(ask.effort or "", DEFAULT_BUDGET)
