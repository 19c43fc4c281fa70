"""Authentication and model policy, a guard (interceptors/guards.py): every ChatService and
ModelService call needs a valid key (`authorization: Bearer KEY` or `x-api-key: KEY`); health and
reflection stay open."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from llmgateway.auth.context import current_principal
from llmgateway.auth.keys import KeyStore, Principal
from llmgateway.errors import GatewayError, shown
from llmgateway.interceptors.handlers import Context
from llmgateway.observability.call_record import record as current_record
from llmgateway.reasons import Reason

_PROTECTED = ("/llmgateway.v1.ChatService/", "/llmgateway.v1.ModelService/")


def _unauthenticated(reason: Reason, message: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.UNAUTHENTICATED, reason, message)


def presented_key(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The key the caller sent: `authorization: Bearer KEY` (scheme in any case) or `x-api-key`.
    Credentials that disagree (a header repeated, or both headers, with different keys) are refused
    as invalid (""): a proxy in front that checks one of them must not be walked around with another."""
    keys: set[str] = set()
    for name, value in metadata or ():
        if not isinstance(value, str):
            continue
        if name.lower() == "authorization":
            scheme, _, token = value.strip().partition(" ")
            keys.add(token.strip() if scheme.lower() == "bearer" else "")
        elif name.lower() == "x-api-key":
            keys.add(value.strip())
    if not keys:
        return None
    return keys.pop() if len(keys) == 1 else ""


def authenticate(store: KeyStore, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
    """The caller's principal, or UNAUTHENTICATED. The same answer for unknown, wrong and revoked
    keys, so nobody can learn which key ids exist."""
    key = presented_key(metadata)
    if key is None:
        raise _unauthenticated(
            Reason.MISSING_API_KEY,
            "this call needs an API key: send `authorization: Bearer KEY` or `x-api-key: KEY`",
        )
    principal = store.authenticate(key)
    if principal is None:
        raise _unauthenticated(Reason.INVALID_API_KEY, "the API key is not valid")
    return principal


def _check_model(principal: Principal, request: Any) -> None:
    model = getattr(request, "model", None)
    if not isinstance(model, str):
        return
    if not any(fnmatch.fnmatchcase(model, pattern) for pattern in principal.policy.models):
        raise GatewayError(
            grpc.StatusCode.PERMISSION_DENIED,
            Reason.MODEL_NOT_ALLOWED,
            f"this API key may not use model {shown(model)!r}",
            metadata={"model": shown(model), "key_id": principal.key_id},
        )
    labels = getattr(request, "labels", None)
    if labels is not None and principal.policy.labels:
        labels.update(principal.policy.labels)  # the key's labels win over the caller's


class AuthGuard:
    """Authenticates protected calls; `keys()` gives the current key store, or None when auth is off
    (read per call, so a reload that revokes a key takes effect at once)."""

    def __init__(self, keys: Callable[[], KeyStore | None]) -> None:
        self._keys = keys

    def applies_to(self, method: str) -> bool:
        return method.startswith(_PROTECTED)

    async def enter(self, request: Any, context: Context) -> None:
        store = self._keys()
        if store is None:
            return
        principal = authenticate(store, context.invocation_metadata())
        current_principal.set(principal)
        observed = current_record()
        if observed is not None:
            observed.tenant = principal.tenant
        _check_model(principal, request)

    async def leave(self, entered: object) -> None:
        """Nothing to undo."""
