"""Who may administer the gateway at run time (the AdminService): admin keys, distinct from the
gateway's API keys, or TLS client identities; and how often replicas look for changes."""

from __future__ import annotations

from pydantic import Field

from llmgateway.config.common import Seconds, Strict


class AdminKeySettings(Strict):
    """An admin key, stored only as its id and a salted hash (`llmgateway keys create --admin`)."""

    # The key's public id (the part of the key before its secret).
    id: str = Field(pattern=r"^[a-z0-9]{8,32}$")
    # The salted hash of the key's secret.
    hash: str = Field(pattern=r"^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$")
    # Who holds it (audit events name the key by its id).
    name: str = ""


class AdminSettings(Strict):
    """The AdminService: keys, tenants, audit and usage at run time, stored in the ledger's
    database (ledger.url). Without a database the service answers FAILED_PRECONDITION."""

    # Admin keys, sent like API keys (`authorization: Bearer KEY`); gateway API keys are refused.
    keys: list[AdminKeySettings] = Field(default_factory=list)
    # TLS client certificates that are admins, by subject common name or subject alternative name
    # (needs server.tls with client_ca_file and require_client_cert: gRPC asks for a client
    # certificate only when it requires one).
    client_identities: list[str] = Field(default_factory=list)
    # How often every replica checks the database for changed keys and tenants.
    poll_interval_s: Seconds = 1.0
