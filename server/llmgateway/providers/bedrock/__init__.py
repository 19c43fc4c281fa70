"""The AWS Bedrock Converse protocol."""

from llmgateway.providers.bedrock.adapter import create

__all__ = ["create"]
