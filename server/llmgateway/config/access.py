"""Who may call, with what: API keys and their policies (models, rates, budgets, cache, PII), tenants."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from llmgateway.config.budgets import TimeZone
from llmgateway.config.common import NAME_PATTERN, Strict
from llmgateway.redaction.kinds import Kind
from llmgateway.redaction.phones import DEFAULT_REGIONS, SUPPORTED_REGIONS


class BudgetSettings(Strict):
    """Spend allowed per calendar period, in US dollars, in a time zone (budgets.time_zone unless
    set here)."""

    # The spend allowed per period, in US dollars.
    usd: float = Field(gt=0)
    # day, week (ISO: from Monday 00:00) or month, calendar periods in `time_zone`.
    period: Literal["day", "week", "month"] = "day"
    # The IANA time zone whose midnights start the periods; unset: budgets.time_zone (UTC).
    time_zone: TimeZone | None = None


class RateLimits(Strict):
    """Limits of a key or a tenant; unset means unlimited."""

    # Calls per minute.
    rpm: int | None = Field(default=None, gt=0)
    # Tokens per minute (estimated at admission, settled with the real usage).
    tpm: int | None = Field(default=None, gt=0)
    # Calls in flight at once.
    max_concurrent: int | None = Field(default=None, gt=0)
    # Spend allowed per calendar period.
    budget: BudgetSettings | None = None


class PiiPolicy(Strict):
    """PII redaction for a key's calls: on prompts before they leave the gateway (redact them, or
    reject the call with INVALID_ARGUMENT), and on the text of answers, streams included."""

    # Prompts: off, redact before they leave the gateway, or reject the call.
    prompts: Literal["off", "redact", "reject"] = "off"
    # Answers (streams included): off or redact.
    output: Literal["off", "redact"] = "off"
    # Detector names (email, phone, credit_card, iban, ssn, ipv4, ipv6, api_key, bearer_token, jwt,
    # aws_access_key_id, aws_secret_access_key); empty means all of them.
    kinds: list[str] = Field(default_factory=list)
    # mask ([EMAIL]), hash (a stable salted token, needs auth.pii_hash_salt) or drop.
    mode: Literal["mask", "hash", "drop"] = "mask"
    # Regions (ISO 3166 codes) whose national phone numbers, written without a country code, are
    # recognised; numbers with "+" and a country code are recognised whatever the list.
    phone_regions: list[str] = Field(default_factory=lambda: list(DEFAULT_REGIONS), min_length=1)

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, regions: list[str]) -> list[str]:
        upper = [region.upper() for region in regions]
        unknown = sorted(set(upper) - SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"unknown phone regions {unknown}: ISO 3166 codes such as US, GB, DE")
        return upper

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - {kind.value for kind in Kind})
        if unknown:
            raise ValueError(f"unknown PII kinds {unknown}")
        return kinds


class KeyPolicy(RateLimits):
    """What a key may do, besides its limits."""

    models: list[str] = Field(default_factory=lambda: ["*"])  # globs
    labels: dict[str, str] = Field(default_factory=dict)  # added to every call (they win over the caller's)
    # Whether the key's calls may use the response cache.
    cache: bool = True
    # PII redaction of the key's prompts and answers.
    pii: PiiPolicy = PiiPolicy()


class ApiKeySettings(Strict):
    """A gateway API key, stored only as its id and a salted hash (see `llmgateway keys create`)."""

    # The key's public id (the part of the key before its secret).
    id: str = Field(pattern=r"^[a-z0-9]{8,32}$")
    # The salted hash of the key's secret, as `llmgateway keys create` prints it.
    hash: str = Field(pattern=r"^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$")
    # The tenant the key belongs to (its limits are shared by the tenant's keys).
    tenant: str = Field(pattern=NAME_PATTERN)
    # A human name for the key.
    name: str = ""
    # Refuse the key (UNAUTHENTICATED) without removing it.
    revoked: bool = False
    # What the key may do: models, limits, budget, labels, cache, PII.
    policy: KeyPolicy = KeyPolicy()


class AuthSettings(Strict):
    """Caller authentication. Off only for local use: the gateway then warns at start."""

    # Require an API key on every call (health and reflection excepted).
    enabled: bool = True
    # Keys the `hash` PII mode with; without it that mode is refused (stable tokens need a secret).
    pii_hash_salt: SecretStr | None = None
    # The keys, as id and hash.
    keys: list[ApiKeySettings] = Field(default_factory=list)
    # More keys in a separate YAML file (a list, or {keys: [...]}), e.g. from a secret store.
    keys_file: Path | None = None

    @model_validator(mode="after")
    def _hash_mode_needs_salt(self) -> AuthSettings:
        for key in self.keys:
            if key.policy.pii.mode == "hash" and self.pii_hash_salt is None:
                raise ValueError(f"key {key.id}: PII mode `hash` needs auth.pii_hash_salt")
        return self


class TenantSettings(RateLimits):
    """A tenant's shared limits, over all its keys."""

    # The tenant keys name in their `tenant`.
    name: str = Field(pattern=NAME_PATTERN)
