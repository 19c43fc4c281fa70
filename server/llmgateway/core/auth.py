"""Authentication and model policy: every chat and model-listing call needs a valid key
(`authorization: Bearer KEY` or `x-api-key: KEY`), and may use only the models its policy allows."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from llmgateway.auth.keys import KeyStore, Principal
from llmgateway.errors import GatewayError, shown
from llmgateway.reasons import Reason
from llmgateway.routing.kinds import RoutedRequest


def _unauthenticated(reason: Reason, message: str) -> GatewayError:
    return GatewayError(reason, message)


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


def check_model(principal: Principal, request: RoutedRequest) -> None:
    """PERMISSION_DENIED unless the key's policy allows the requested model; the key's tags, then
    its policy's labels are added to the request's (they win over the caller's)."""
    model = request.model
    if not any(fnmatch.fnmatchcase(model, pattern) for pattern in principal.policy.models):
        raise GatewayError(
            Reason.MODEL_NOT_ALLOWED,
            f"this API key may not use model {shown(model)!r}",
            metadata={"model": shown(model), "key_id": principal.key_id},
        )
    if principal.tags:
        request.labels.update(principal.tags)
    if principal.policy.labels:
        request.labels.update(principal.policy.labels)
