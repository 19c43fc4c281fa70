"""The Ollama native chat protocol."""

from llmgateway.providers.ollama.adapter import create

__all__ = ["create"]
