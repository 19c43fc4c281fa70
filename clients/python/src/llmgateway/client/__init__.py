"""A thin client for the llmgateway.v1 gRPC API, on top of the generated stubs in `llmgateway.v1`.

from llmgateway.client import Client, GatewayError, text_request

with Client("localhost:50051", api_key="sk-...", tls=False) as client:
    reply = client.chat(text_request("gpt-4o-mini", "Hello!"))
    print(reply.message.parts[0].text)
"""

from llmgateway.client._channel import RETRY_SERVICE_CONFIG, channel_options, credentials
from llmgateway.client._client import AsyncClient, AsyncStream, Client, Stream
from llmgateway.client._errors import GatewayError
from llmgateway.client._requests import reply_text, stream_request, text_request

__all__ = [
    "RETRY_SERVICE_CONFIG",
    "AsyncClient",
    "AsyncStream",
    "Client",
    "GatewayError",
    "Stream",
    "channel_options",
    "credentials",
    "reply_text",
    "stream_request",
    "text_request",
]
