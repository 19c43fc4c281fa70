"""Who may make an admin call: an admin key (admin.keys, sent as the usual `authorization: Bearer
KEY` or `x-api-key: KEY`), or a verified TLS client certificate whose common name or DNS name is
in admin.client_identities. A gateway API key is recognised and refused with PERMISSION_DENIED:
it is a credential, just not an admin one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from llmgateway.auth.keys import KeyStore, matching_id
from llmgateway.config import AdminSettings
from llmgateway.core.auth import presented_key
from llmgateway.errors import GatewayError
from llmgateway.governance.changes import Actor
from llmgateway.reasons import Reason

# grpc's auth context names of a verified peer certificate's identities.
_CERT_NAMES = ("x509_common_name", "x509_subject_alternative_name")


def certificate_identities(auth_context: Mapping[str, Iterable[bytes]]) -> list[str]:
    """The names a client certificate that the TLS handshake verified carries (none without mTLS)."""
    return [value.decode() for name in _CERT_NAMES for value in auth_context.get(name, ())]


def admin_key_id(settings: AdminSettings, presented: str) -> str | None:
    """The id of the admin key `presented` is, or None (the AdminService and the status page)."""
    return matching_id(presented, {key.id: key.hash for key in settings.keys})


def admin_actor(
    settings: AdminSettings,
    metadata: Iterable[tuple[str, str | bytes]],
    identities: Sequence[str],
    gateway_keys: KeyStore | None,
) -> Actor:
    """The admin making the call, or UNAUTHENTICATED / PERMISSION_DENIED."""
    presented = presented_key(metadata)
    if presented is not None:
        key_id = admin_key_id(settings, presented)
        if key_id is not None:
            return Actor(f"admin-key:{key_id}")
    trusted = next((name for name in identities if name in settings.client_identities), None)
    if trusted is not None:
        return Actor(f"client-cert:{trusted}")
    if presented is None:
        raise GatewayError(
            Reason.MISSING_API_KEY,
            "admin calls need an admin key (`authorization: Bearer KEY`) or an admin client certificate",
        )
    if gateway_keys is not None and gateway_keys.authenticate(presented) is not None:
        raise GatewayError(
            Reason.ADMIN_CREDENTIAL_REQUIRED,
            "this is a gateway API key: admin calls need an admin key (admin.keys) or an admin client certificate",
        )
    raise GatewayError(Reason.INVALID_API_KEY, "the admin key is not valid")
