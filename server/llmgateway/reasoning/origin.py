"""Whose signatures a provider may be sent back.

Signed reasoning (Anthropic's and Bedrock's `signature`, redacted thinking, Gemini's
`thoughtSignature`) verifies only at the protocol that signed it; after a fallback to another
provider, the request builders drop it rather than send something the provider would reject.
Reasoning without an origin (from a client that predates origins) is passed through as it is."""

from __future__ import annotations

from llmgateway.v1 import content_pb2

ANTHROPIC = "anthropic"
BEDROCK = "bedrock"
GEMINI = "gemini"


def foreign(reasoning: content_pb2.Reasoning, protocol: str) -> bool:
    """Whether the reasoning was signed by another protocol than `protocol`."""
    return bool(reasoning.origin) and reasoning.origin != protocol


def signed(reasoning: content_pb2.Reasoning) -> bool:
    return bool(reasoning.signature or reasoning.redacted_data)
