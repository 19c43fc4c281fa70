"""The HTTP/1.1 server the HTTP front doors (OpenAI- and Anthropic-compatible) share: one aiohttp
web server per process beside gRPC, with request ids, trace context, size limits and drain."""
