"""Reasoning signatures and redacted thinking as the HTTP doors show them: prefixed with the
protocol that signed them ("gemini.<signature>"), so that when the client sends the block back, the
gateway knows whose it is and drops it on its way to any other provider (v1's Reasoning.origin).
Neither the Messages API nor Chat Completions has a field for the origin, and signatures are opaque
to clients, so the prefix rides in the signature itself; the provider always receives its
signature byte for byte."""

from __future__ import annotations

from llmgateway.reasoning import origin

_ORIGINS = (origin.ANTHROPIC, origin.BEDROCK, origin.GEMINI)


def shown(signer: str, opaque: str) -> str:
    """A signature or redacted payload as the door sends it."""
    return f"{signer}.{opaque}" if signer and opaque else opaque


def parsed(value: str) -> tuple[str, str]:
    """(origin, signature or payload) of a value the door sent; ("", value) for anything else
    (the signers' values are base64 and never hold a ".")."""
    signer, dot, opaque = value.partition(".")
    if dot and signer in _ORIGINS:
        return signer, opaque
    return "", value
