"""A key's PII policy applied to its calls: prompts redacted (or the call refused) before they
leave the gateway, and answer text redacted — streams through a stream redactor, so a value split
across chunks is still caught. Tool-call arguments are structured JSON the caller's code parses,
so they pass unchanged."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Literal

from llmgateway.config import PiiPolicy
from llmgateway.errors import FieldViolation, GatewayError, invalid_argument
from llmgateway.reasons import Reason
from llmgateway.redaction.kinds import PIIRejectedError
from llmgateway.redaction.redactor import Redactor
from llmgateway.redaction.stream import StreamRedactor
from llmgateway.v1 import chat_pb2, content_pb2, embeddings_pb2


class PiiFilter:
    """The redactor of one key's policy."""

    def __init__(self, policy: PiiPolicy, salt: str | None) -> None:
        self._policy = policy
        self._redactor = Redactor(
            kinds=policy.kinds or None, mode=policy.mode, salt=salt, phone_regions=policy.phone_regions
        )

    def _parts(self, path: str, parts: list[content_pb2.Part]) -> list[FieldViolation]:
        found: list[FieldViolation] = []
        for index, part in enumerate(parts):
            kind = part.WhichOneof("kind")
            if kind == "text":
                try:
                    part.text = self._redactor.check(
                        part.text, "reject" if self._policy.prompts == "reject" else "redact"
                    )
                except PIIRejectedError as rejected:
                    names = ", ".join(sorted(k.value for k in rejected.kinds))
                    found.append(FieldViolation(f"{path}[{index}].text", f"contains {names}", "PII_DETECTED"))
            elif kind == "tool_result":
                found += self._parts(f"{path}[{index}].tool_result.content", list(part.tool_result.content))
        return found

    def prompts(self, request: chat_pb2.ChatRequest) -> None:
        """Redact the request's text in place, or refuse it with INVALID_ARGUMENT naming the parts
        and the kinds found (never the values)."""
        if self._policy.prompts == "off":
            return
        violations: list[FieldViolation] = []
        for index, message in enumerate(request.messages):
            violations += self._parts(f"messages[{index}].parts", list(message.parts))
        if violations:
            error: GatewayError = invalid_argument(violations)
            error.reason = Reason.PII_DETECTED
            raise error

    def inputs(self, request: embeddings_pb2.EmbedRequest) -> None:
        """Redact an embeddings request's inputs in place, or refuse it as `prompts` does."""
        if self._policy.prompts == "off":
            return
        mode: Literal["redact", "reject"] = "reject" if self._policy.prompts == "reject" else "redact"
        violations: list[FieldViolation] = []
        for index, text in enumerate(request.inputs):
            try:
                request.inputs[index] = self._redactor.check(text, mode)
            except PIIRejectedError as rejected:
                names = ", ".join(sorted(k.value for k in rejected.kinds))
                violations.append(FieldViolation(f"inputs[{index}]", f"contains {names}", "PII_DETECTED"))
        if violations:
            error: GatewayError = invalid_argument(violations)
            error.reason = Reason.PII_DETECTED
            raise error

    def response(self, response: chat_pb2.ChatResponse) -> None:
        """Redact an answer's text and reasoning text in place; reasoning signatures and redacted
        content stay byte for byte (a redacted thinking text no longer matches its signature, so
        the provider will refuse it back: privacy comes first)."""
        if self._policy.output == "off":
            return
        for part in response.message.parts:
            if part.WhichOneof("kind") == "text":
                part.text = self._redactor.redact(part.text).text
            elif part.WhichOneof("kind") == "reasoning":
                part.reasoning.text = self._redactor.redact(part.reasoning.text).text

    async def stream(
        self, messages: AsyncGenerator[chat_pb2.ChatStreamResponse, None]
    ) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        """Redact streamed text. Text is held back only while it could still be part of a value;
        what is held is released with the finish reason. `messages` is closed when this ends."""
        async with aclosing(messages):
            if self._policy.output == "off":
                async for message in messages:
                    yield message
                return
            text, reasoning = StreamRedactor(self._redactor), StreamRedactor(self._redactor)
            reasoning_index = 0
            async for message in messages:
                if message.HasField("delta"):
                    delta = message.delta
                    if delta.reasoning_index != reasoning_index:
                        # Held-back reasoning belongs to the part before: it goes out under its index.
                        rest = reasoning.flush()
                        reasoning = StreamRedactor(self._redactor)
                        if rest:
                            yield chat_pb2.ChatStreamResponse(
                                delta=chat_pb2.Delta(reasoning=rest, reasoning_index=reasoning_index)
                            )
                        reasoning_index = delta.reasoning_index
                    delta.text = text.feed(delta.text)
                    delta.reasoning = reasoning.feed(delta.reasoning)
                    # Signatures and redacted reasoning are opaque and never altered: a provider
                    # verifies them byte for byte.
                    held_back = not (
                        delta.text
                        or delta.reasoning
                        or delta.tool_calls
                        or delta.reasoning_signature
                        or delta.reasoning_redacted_data
                        or delta.reasoning_origin
                        or delta.refusal
                    )
                    if held_back and not message.finish_reason:
                        continue  # nothing safe to show yet: it goes out with a later message
                if message.finish_reason:
                    rest_text, rest_reasoning = text.flush(), reasoning.flush()
                    if rest_text:
                        message.delta.text += rest_text
                    if rest_reasoning:
                        message.delta.reasoning += rest_reasoning
                        message.delta.reasoning_index = reasoning_index
                yield message
