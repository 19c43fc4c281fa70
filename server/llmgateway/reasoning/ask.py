"""What reasoning a request asks for.

The v1 contract was meant to carry this as `GenerationConfig.reasoning` (effort, budget, whether to
return thought text), but the generated code of the Issue 21 contract has no such field. Until it
does, the request carries the same three settings as reserved labels, which every door and client
can already send and which routing rules can match on:

    reasoning.effort            none | minimal | low | medium | high
    reasoning.budget_tokens     a positive integer (an upper bound on thinking tokens)
    reasoning.include_thoughts  true | false (return the thought text or summaries)

This module is the one place that reads them: when the contract gains the field, only
`requested` changes.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass

from llmgateway.errors import FieldViolation, invalid_argument
from llmgateway.v1 import chat_pb2

EFFORT_LABEL = "reasoning.effort"
BUDGET_LABEL = "reasoning.budget_tokens"
THOUGHTS_LABEL = "reasoning.include_thoughts"
LABELS = (EFFORT_LABEL, BUDGET_LABEL, THOUGHTS_LABEL)
EFFORTS = ("none", "minimal", "low", "medium", "high")
_BOOLEANS = {"true": True, "false": False}
# Beyond any model's output limit; keeps the number an int32 for the wire.
MAX_BUDGET = 1_000_000

AnyRequest = chat_pb2.ChatRequest | chat_pb2.ChatStreamRequest


@dataclass(frozen=True, slots=True)
class ReasoningAsk:
    """The reasoning a request asks for. `effort` None: not given (a budget alone asks for
    reasoning); "none": reasoning off."""

    effort: str | None = None
    budget_tokens: int | None = None
    include_thoughts: bool = False

    @property
    def off(self) -> bool:
        return self.effort == "none"


def _violations(labels: MutableMapping[str, str]) -> Iterator[FieldViolation]:
    effort = labels.get(EFFORT_LABEL)
    if effort is not None and effort not in EFFORTS:
        yield FieldViolation(f"labels[{EFFORT_LABEL}]", f"must be one of {', '.join(EFFORTS)}")
    budget = labels.get(BUDGET_LABEL)
    if budget is not None:
        if not budget.isdigit() or not 0 < int(budget) <= MAX_BUDGET:
            yield FieldViolation(f"labels[{BUDGET_LABEL}]", f"must be an integer from 1 to {MAX_BUDGET}")
        elif effort == "none":
            yield FieldViolation(
                f"labels[{BUDGET_LABEL}]", "a budget asks for reasoning, which effort none turns off"
            )
    thoughts = labels.get(THOUGHTS_LABEL)
    if thoughts is not None and thoughts not in _BOOLEANS:
        yield FieldViolation(f"labels[{THOUGHTS_LABEL}]", "must be true or false")


def violations(request: AnyRequest) -> list[FieldViolation]:
    """What is wrong with the request's reasoning settings (for the core's validation)."""
    return list(_violations(request.labels))


def requested(request: AnyRequest) -> ReasoningAsk | None:
    """The reasoning the request asks for, or None when it says nothing about reasoning (then each
    model does what it does by default). Raises INVALID_ARGUMENT on malformed settings."""
    labels = request.labels
    if not any(label in labels for label in LABELS):
        return None
    problems = violations(request)
    if problems:
        raise invalid_argument(problems)
    budget = labels.get(BUDGET_LABEL)
    return ReasoningAsk(
        effort=labels.get(EFFORT_LABEL),
        budget_tokens=int(budget) if budget is not None else None,
        include_thoughts=_BOOLEANS.get(labels.get(THOUGHTS_LABEL, "false"), False),
    )


def ask_in(request: AnyRequest, ask: ReasoningAsk) -> None:
    """Writes `ask` into the request (the doors' side of `requested`)."""
    labels = request.labels
    for label in LABELS:
        labels.pop(label, None)
    if ask.effort is not None:
        labels[EFFORT_LABEL] = ask.effort
    if ask.budget_tokens is not None:
        labels[BUDGET_LABEL] = str(ask.budget_tokens)
    if ask.include_thoughts:
        labels[THOUGHTS_LABEL] = "true"
