"""A call's way in, in the order the core promises: cheap local checks first (load shedding, then
the breakers of the requested model), then authentication and model policy, then admission by the
key's and tenant's limits and budgets (which may be a Redis round trip). What each step takes is
given back when the call ends, however it ends, or at once when a later step refuses the call."""

from __future__ import annotations

import asyncio

from llmgateway.auth.keys import Principal
from llmgateway.core.auth import authenticate, check_model
from llmgateway.core.identity import CallerIdentity
from llmgateway.core.load_shedding import LoadShedder
from llmgateway.core.runtime import Runtime, RuntimeHolder
from llmgateway.core.shutdown import InFlightCalls
from llmgateway.errors import GatewayError, shown
from llmgateway.limits.admission import Admission, Ticket
from llmgateway.observability.call_record import CallRecord
from llmgateway.reasons import Reason
from llmgateway.routing import estimate
from llmgateway.routing.kinds import RoutedRequest
from llmgateway.routing.rules import Caller
from llmgateway.v1 import chat_pb2


def _fail_fast_if_breakers_open(runtime: Runtime, model: str, call: CallRecord) -> None:
    """UNAVAILABLE with RetryInfo, without touching the network, when every deployment that could
    serve `model` has an open breaker. The call is labelled with the model it asked for, so
    per-model dashboards see exactly these outages."""
    retry_in = runtime.router.open_until(model) if model else None
    if retry_in is not None:
        call.model = runtime.router.configured_name(model) or call.model
        raise GatewayError(
            Reason.BREAKER_OPEN,
            f"every deployment that can serve model {shown(model)!r} is failing; not calling them for now",
            metadata={"model": shown(model)},
            retry_after=max(retry_in, 0.001),
        )


async def settle(admission: Admission, ticket: Ticket, usage: chat_pb2.Usage) -> None:
    """The key's and tenant's limits and budgets learn what the call really used."""
    settling = admission.settle(ticket, usage)
    if admission.waits:
        # Shielded: a call cancelled by its caller must still give back what it did not use.
        await asyncio.shield(settling)
    else:
        # In-process limits settle without ever suspending, so no cancellation can cut them short;
        # the shield would only cost a task per call.
        await settling


def routing_caller(who: Principal | None) -> Caller:
    """Who routing rules see as the caller: the authenticated key and tenant, if any."""
    return Caller(tenant=who.tenant, key_id=who.key_id) if who is not None else Caller()


def authenticated(runtime: Runtime, caller: CallerIdentity) -> Principal | None:
    """The caller's key's principal; None when authentication is off (UNAUTHENTICATED when the key
    is missing or not valid)."""
    store = runtime.keys
    return None if store is None else authenticate(store, caller.headers)


class Entry:
    """What one chat or embeddings call holds from the moment the core lets it in until it ends: the runtime it
    runs on (a reload lets it finish there), its place among the calls a shutdown may cut and among
    those load shedding counts, and its admission ticket. Use as `async with Entry(...) as entry`."""

    __slots__ = (
        "_call",
        "_caller",
        "_in_flight",
        "_request",
        "_shed",
        "_shedder",
        "_task",
        "runtime",
        "ticket",
        "who",
    )

    def __init__(
        self,
        runtimes: RuntimeHolder,
        in_flight: InFlightCalls,
        shedder: LoadShedder,
        *,
        request: RoutedRequest,
        caller: CallerIdentity,
        call: CallRecord,
    ) -> None:
        self.runtime = runtimes.current
        self._in_flight, self._shedder = in_flight, shedder
        self._request, self._caller, self._call = request, caller, call
        self._task: asyncio.Task[object] | None = None
        self._shed = False
        self.who: Principal | None = None
        self.ticket: Ticket | None = None

    async def __aenter__(self) -> Entry:
        runtime, request = self.runtime, self._request
        runtime.enter()
        self._task = self._in_flight.add()
        try:
            self._shedder.enter()
            self._shed = True
            # Who calls first: a caller without a valid key learns nothing of the deployments'
            # health, and a refused call is recorded against its key and tenant. The breakers
            # before admission: a call that cannot be served takes nothing from the limits.
            self.who = who = authenticated(runtime, self._caller)
            if who is not None:
                self._call.tenant, self._call.key_id = who.tenant, who.key_id
                check_model(who, request)
            _fail_fast_if_breakers_open(runtime, request.model, self._call)
            if who is not None:
                tokens = estimate.call_tokens(request)
                self.ticket = await runtime.admission.admit(who, tokens, at=self._call.started_at)
        except BaseException:
            await self._leave()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._leave()

    async def _leave(self) -> None:
        try:
            if self.ticket is not None:
                await settle(self.runtime.admission, self.ticket, self._call.usage)
        finally:
            if self._shed:
                self._shedder.leave()
            self._in_flight.discard(self._task)
            self.runtime.leave()
