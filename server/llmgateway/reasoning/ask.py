"""What reasoning a request asks for: `GenerationConfig.reasoning` (effort, budget, whether to
return thought text) as the small value the rest of the reasoning code works with. The one place
that reads the field; the doors write it through `ask_in`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from llmgateway.errors import FieldViolation, invalid_argument
from llmgateway.v1 import chat_pb2

_Effort = chat_pb2.ReasoningConfig.Effort
EFFORTS = ("none", "minimal", "low", "medium", "high")
_EFFORT_NAMES: dict[_Effort.ValueType, str] = {
    chat_pb2.ReasoningConfig.EFFORT_NONE: "none",
    chat_pb2.ReasoningConfig.EFFORT_MINIMAL: "minimal",
    chat_pb2.ReasoningConfig.EFFORT_LOW: "low",
    chat_pb2.ReasoningConfig.EFFORT_MEDIUM: "medium",
    chat_pb2.ReasoningConfig.EFFORT_HIGH: "high",
}
_EFFORT_VALUES = {name: value for value, name in _EFFORT_NAMES.items()}
# Beyond any model's output limit; keeps the number an int32 for the wire.
MAX_BUDGET = 1_000_000
_FIELD = "generation_config.reasoning"

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


def _violations(config: chat_pb2.ReasoningConfig) -> Iterator[FieldViolation]:
    if config.effort and config.effort not in _EFFORT_NAMES:
        yield FieldViolation(f"{_FIELD}.effort", f"unknown effort {config.effort}")
    if config.HasField("budget_tokens"):
        if not 0 < config.budget_tokens <= MAX_BUDGET:
            yield FieldViolation(f"{_FIELD}.budget_tokens", f"must be from 1 to {MAX_BUDGET}")
        elif config.effort == chat_pb2.ReasoningConfig.EFFORT_NONE:
            yield FieldViolation(
                f"{_FIELD}.budget_tokens", "a budget asks for reasoning, which EFFORT_NONE turns off"
            )


def violations(request: AnyRequest) -> list[FieldViolation]:
    """What is wrong with the request's reasoning settings (for the core's validation)."""
    if not request.generation_config.HasField("reasoning"):
        return []
    return list(_violations(request.generation_config.reasoning))


def requested(request: AnyRequest) -> ReasoningAsk | None:
    """The reasoning the request asks for, or None when it says nothing about reasoning (then each
    model does what it does by default). Raises INVALID_ARGUMENT on malformed settings."""
    if not request.generation_config.HasField("reasoning"):
        return None
    problems = violations(request)
    if problems:
        raise invalid_argument(problems)
    config = request.generation_config.reasoning
    return ReasoningAsk(
        effort=_EFFORT_NAMES.get(config.effort),
        budget_tokens=config.budget_tokens if config.HasField("budget_tokens") else None,
        include_thoughts=config.include_thoughts,
    )


def ask_in(request: AnyRequest, ask: ReasoningAsk) -> None:
    """Writes `ask` into the request (the doors' side of `requested`)."""
    config = request.generation_config.reasoning
    config.Clear()
    config.SetInParent()  # present even when every setting is its default
    if ask.effort is not None:
        config.effort = _EFFORT_VALUES[ask.effort]
    if ask.budget_tokens is not None:
        config.budget_tokens = ask.budget_tokens
    config.include_thoughts = ask.include_thoughts
