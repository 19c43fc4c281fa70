"""The Google Gemini (Generative Language API) protocol."""

from llmgateway.providers.gemini.adapter import create

__all__ = ["create"]
