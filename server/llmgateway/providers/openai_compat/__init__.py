"""The OpenAI Chat Completions protocol, which OpenAI, Azure OpenAI, vLLM and Together speak."""

from llmgateway.providers.openai_compat.adapter import create

__all__ = ["create"]
