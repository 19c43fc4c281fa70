"""The authenticated caller of the current call (a context variable: each RPC is its own task)."""

from __future__ import annotations

import contextvars

from llmgateway.auth.keys import Principal

current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "llmgateway_principal", default=None
)


def principal() -> Principal | None:
    """Who is calling; None when authentication is off."""
    return current_principal.get()
