"""The Anthropic Messages protocol."""

from llmgateway.providers.anthropic.adapter import create

__all__ = ["create"]
