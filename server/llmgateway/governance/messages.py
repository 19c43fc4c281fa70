"""Keys and tenants between their three forms: the admin proto messages callers see, the config
models the gateway enforces (KeyPolicy, TenantSettings: one schema for both sources), and the
database rows. Validation is the config models': a bad field becomes INVALID_ARGUMENT naming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, ValidationError

from llmgateway.admin.v1 import admin_pb2
from llmgateway.config import ApiKeySettings, BudgetSettings, KeyPolicy, RateLimits, TenantSettings
from llmgateway.errors import FieldViolation, invalid_argument

Model = TypeVar("Model", bound=BaseModel)
_PERIODS = {
    admin_pb2.BUDGET_PERIOD_UNSPECIFIED: "day",
    admin_pb2.BUDGET_PERIOD_DAY: "day",
    admin_pb2.BUDGET_PERIOD_MONTH: "month",
}
_PERIOD_ENUMS = {"day": admin_pb2.BUDGET_PERIOD_DAY, "month": admin_pb2.BUDGET_PERIOD_MONTH}
_LIMITS = ("rpm", "tpm", "max_concurrent")


def validated(model: type[Model], data: Mapping[str, Any], where: str) -> Model:
    """`data` as `model`, or INVALID_ARGUMENT with one violation per bad field (`where.field`)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_argument(
            [
                FieldViolation(".".join([where, *(str(part) for part in issue["loc"])]), issue["msg"])
                for issue in error.errors()
            ]
        ) from None


def timestamp(ms: int | None) -> timestamp_pb2.Timestamp | None:
    if ms is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def as_struct(message: Any) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(message)
    return struct


def as_json(message: Any) -> dict[str, Any]:
    """A message as the audit record stores it (proto JSON names)."""
    return MessageToDict(message, preserving_proto_field_name=True)


# --- limits and budgets -------------------------------------------------------------------------


def _limits_data(message: admin_pb2.KeyPolicy | admin_pb2.Tenant) -> dict[str, Any]:
    # cast: the stubs type HasField's argument as the literal field names, not any str.
    present = cast(Any, message).HasField
    data: dict[str, Any] = {name: getattr(message, name) for name in _LIMITS if present(name)}
    if message.HasField("budget"):
        data["budget"] = {"usd": message.budget.usd, "period": _PERIODS[message.budget.period]}
    return data


def _set_limits(message: admin_pb2.KeyPolicy | admin_pb2.Tenant, limits: RateLimits) -> None:
    for name in _LIMITS:
        value = getattr(limits, name)
        if value is not None:
            setattr(message, name, value)
    budget: BudgetSettings | None = limits.budget
    if budget is not None:
        message.budget.usd = budget.usd
        message.budget.period = _PERIOD_ENUMS[budget.period]


# --- key policies -------------------------------------------------------------------------------


def policy_settings(message: admin_pb2.KeyPolicy, where: str = "policy") -> KeyPolicy:
    """The enforced policy of a proto one; unset fields take the config's defaults."""
    data = _limits_data(message)
    if message.models:
        data["models"] = list(message.models)
    if message.labels:
        data["labels"] = dict(message.labels)
    if message.HasField("cache"):
        data["cache"] = message.cache
    if message.HasField("pii"):
        pii = message.pii
        data["pii"] = {
            name: value
            for name, value in (
                ("prompts", pii.prompts),
                ("output", pii.output),
                ("kinds", list(pii.kinds)),
                ("mode", pii.mode),
                ("phone_regions", list(pii.phone_regions)),
            )
            if value
        }
    return validated(KeyPolicy, data, where)


def policy_message(policy: KeyPolicy) -> admin_pb2.KeyPolicy:
    message = admin_pb2.KeyPolicy(models=policy.models, labels=policy.labels, cache=policy.cache)
    _set_limits(message, policy)
    pii = policy.pii
    message.pii.CopyFrom(
        admin_pb2.PiiPolicy(
            prompts=pii.prompts,
            output=pii.output,
            kinds=pii.kinds,
            mode=pii.mode,
            phone_regions=pii.phone_regions,
        )
    )
    return message


# --- keys ---------------------------------------------------------------------------------------


def display_prefix(key_id: str) -> str:
    return f"llmgw-{key_id}-…"


def key_from_row(row: Mapping[Any, Any], now_ms: int) -> admin_pb2.Key:
    """A stored key as callers see it: never its hash."""
    revoke_ms = row["revoke_ms"]
    return admin_pb2.Key(
        id=row["id"],
        name=row["name"],
        tenant=row["tenant"],
        tags=row["tags"],
        policy=policy_message(KeyPolicy.model_validate(row["policy"])),
        source=admin_pb2.SOURCE_API,
        display_prefix=display_prefix(row["id"]),
        create_time=timestamp(row["created_ms"]),
        update_time=timestamp(row["updated_ms"]),
        revoke_time=timestamp(revoke_ms),
        revoked=revoke_ms is not None and revoke_ms <= now_ms,
        rotated_from=row["rotated_from"],
    )


def key_from_config(key: ApiKeySettings) -> admin_pb2.Key:
    return admin_pb2.Key(
        id=key.id,
        name=key.name,
        tenant=key.tenant,
        policy=policy_message(key.policy),
        source=admin_pb2.SOURCE_CONFIG,
        display_prefix=display_prefix(key.id),
        revoked=key.revoked,
    )


# --- tenants ------------------------------------------------------------------------------------


def tenant_settings(message: admin_pb2.Tenant, where: str = "tenant") -> TenantSettings:
    return validated(TenantSettings, {"name": message.name, **_limits_data(message)}, where)


def limits_json(tenant: TenantSettings) -> dict[str, Any]:
    """What the database stores of a tenant's limits (its name is the row's key)."""
    return tenant.model_dump(mode="json", exclude={"name"}, exclude_none=True)


def tenant_from_row(row: Mapping[Any, Any]) -> admin_pb2.Tenant:
    message = admin_pb2.Tenant(
        name=row["name"],
        disabled=row["disabled"],
        source=admin_pb2.SOURCE_API,
        create_time=timestamp(row["created_ms"]),
        update_time=timestamp(row["updated_ms"]),
    )
    _set_limits(message, RateLimits.model_validate(row["limits"]))
    return message


def tenant_from_config(tenant: TenantSettings) -> admin_pb2.Tenant:
    message = admin_pb2.Tenant(name=tenant.name, source=admin_pb2.SOURCE_CONFIG)
    _set_limits(message, tenant)
    return message
