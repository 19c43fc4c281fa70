"""CountTokens through the core: the same way in as a chat call where it matters, lighter where a
count costs nothing.

Applied: load shedding (a count holds a connection and maybe an upstream request), the API key and
its model policy (a count names a model and may use a provider's endpoint on the gateway's
account), validation, and the key's PII policy on the prompt (a provider-counted prompt leaves the
gateway). Not applied: TPM, budgets and RPM. A count generates nothing and no provider bills it, and
the key's RPM is sized for generation: a client that counts before every call would otherwise see
its chat rate halved. The provider's own rate limits on counting are separate from generation's,
and the bulkhead and load shedding still bound what counts can take (routing/counting.py)."""

from __future__ import annotations

import uuid

from llmgateway.core.auth import check_model
from llmgateway.core.deadlines import bounded_by_deadline
from llmgateway.core.entry import authenticated, routing_caller
from llmgateway.core.identity import CallerIdentity
from llmgateway.core.runtime import Runtime
from llmgateway.core.served import Served
from llmgateway.core.validation import validate_request
from llmgateway.observability.call_record import CallRecord
from llmgateway.v1 import chat_pb2


def as_chat_request(request: chat_pb2.CountTokensRequest) -> chat_pb2.ChatRequest:
    """CountTokensRequest has ChatRequest's fields under the same numbers: one wire form, one model."""
    return chat_pb2.ChatRequest.FromString(request.SerializeToString())


async def count_tokens(
    runtime: Runtime, request: chat_pb2.ChatRequest, caller: CallerIdentity, call: CallRecord
) -> chat_pb2.CountTokensResponse:
    """The count for a request already past load shedding; GatewayError when refused or failed."""
    who = authenticated(runtime, caller)
    if who is not None:
        call.tenant = who.tenant
        check_model(who, request)
    call.request_id = request_id = request.request_id or uuid.uuid4().hex
    validate_request(request, runtime.config.limits)
    pii = runtime.pii(who)
    if pii is not None:
        pii.prompts(request)
    async with bounded_by_deadline(caller.time_remaining(), runtime.config.routing.max_call_s):
        counted, route = await runtime.router.count_tokens(
            request, request.model, request_id, routing_caller(who)
        )
    deployment = route.deployment
    assert deployment is not None
    call.served = Served(
        provider=deployment.provider.name,
        attempts=len(route.attempts),
        cache="off",
        deployment=deployment.id,
        model=route.served_model,
    )
    return counted
