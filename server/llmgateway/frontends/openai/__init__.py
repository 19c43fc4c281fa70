"""The OpenAI-compatible HTTP front door: Chat Completions (unary and SSE) and the model list,
translated to and from the v1 messages and served by the same core as gRPC.

request.py and messages.py read the wire JSON into a v1 ChatRequest (params.py types each value and
names the parameter it refuses); response.py and chunks.py render v1 answers and stream messages as
`chat.completion` and `chat.completion.chunk`; errors.py renders a GatewayError in OpenAI's error
shape; models.py serves /v1/models; routes.py wires the handlers to the core."""
