"""The Anthropic-compatible front door: `POST /v1/messages` (unary and SSE) on the HTTP listener.

Messages API JSON in, v1 through the core, Messages API JSON and events out; errors in Anthropic's
shape. Modules: `wire` (strict reading of JSON values), `content` (system and messages → v1),
`request` (the whole body and headers → v1), `message` (a v1 answer → a Message), `events` (a v1
stream → the Messages event stream), `errors` (GatewayError → Anthropic's error shape and status),
`routes` (the handler)."""
