"""Admission of authenticated chat calls, a guard (interceptors/guards.py): the key's and tenant's
rate limits, concurrency and budgets before the call, settled with the real usage and cost after it
(however it ended)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from llmgateway.auth.context import principal
from llmgateway.interceptors.handlers import Context, is_chat_method
from llmgateway.limits.admission import Admission, Ticket
from llmgateway.observability.call_record import record as current_record
from llmgateway.routing import estimate
from llmgateway.v1 import chat_pb2


def _as_chat_request(request: Any) -> chat_pb2.ChatRequest:
    if isinstance(request, chat_pb2.ChatRequest):
        return request
    return chat_pb2.ChatRequest.FromString(request.SerializeToString())


class AdmissionGuard:
    """`admission()` gives the current Admission (None: no limits to apply)."""

    def __init__(self, admission: Callable[[], Admission | None]) -> None:
        self._admission = admission

    def applies_to(self, method: str) -> bool:
        return is_chat_method(method)

    async def enter(self, request: Any, context: Context) -> tuple[Admission, Ticket] | None:
        admission, who = self._admission(), principal()
        if admission is None or who is None:
            return None
        chat_request = _as_chat_request(request)
        tokens = estimate.prompt_tokens(chat_request) + estimate.output_tokens(chat_request)
        return admission, await admission.admit(who, tokens)

    async def leave(self, entered: object) -> None:
        admission, ticket = cast(tuple[Admission, Ticket], entered)
        observed = current_record()
        usage = observed.usage if observed is not None else chat_pb2.Usage()
        settling = admission.settle(ticket, usage)
        if admission.waits:
            # Shielded: a call cancelled by its caller must still give back what it did not use.
            await asyncio.shield(settling)
        else:
            # In-process limits settle without ever suspending, so no cancellation can cut them
            # short; the shield would only cost a task per call.
            await settling
