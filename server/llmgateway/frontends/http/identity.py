"""An HTTP request's caller as the core sees it (core/identity.py): its headers, names in lower
case; HTTP has no deadline of its own, so the call is bounded by routing.max_call_s, and a caller
that goes away cancels it (the server cancels the handler when its connection closes)."""

from __future__ import annotations

from aiohttp import web

from llmgateway.core.identity import CallerIdentity


def caller_of(request: web.Request, frontend: str) -> CallerIdentity:
    """The caller of `request`, arriving through `frontend` (openai, anthropic)."""
    headers = tuple((name.lower(), value) for name, value in request.headers.items())
    return CallerIdentity(headers=headers, frontend=frontend)
