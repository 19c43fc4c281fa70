"""Key operations on the database: create, read, list, update, revoke, rotate. Each change is one
audited transaction (changes.py). Keys from the config file are listed and read, never changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from sqlalchemy.engine import Connection, Engine

from llmgateway.admin.v1 import admin_pb2
from llmgateway.auth.keys import new_key
from llmgateway.config import GatewayConfig, KeyPolicy
from llmgateway.errors import FieldViolation, GatewayError, invalid_argument, shown
from llmgateway.governance import messages
from llmgateway.governance.changes import Actor, change
from llmgateway.governance.pages import Page
from llmgateway.ledger.schema import admin_keys, admin_tenants
from llmgateway.reasons import Reason

# The fields UpdateKey may change (a mask may also name policy's own fields: policy.rpm, ...).
_MUTABLE = ("name", "tenant", "tags", "policy")
_POLICY_FIELDS = frozenset(admin_pb2.KeyPolicy.DESCRIPTOR.fields_by_name)


def _not_found(key_id: str) -> GatewayError:
    return GatewayError(
        Reason.KEY_NOT_FOUND, f"no key with id {shown(key_id)!r}", metadata={"key_id": shown(key_id)}
    )


def _read_only(key_id: str) -> GatewayError:
    return GatewayError(
        Reason.DEFINED_IN_CONFIG,
        f"key {key_id!r} is defined in the config file (auth.keys or auth.keys_file): change it there "
        "and reload the gateway (SIGHUP)",
        metadata={"key_id": key_id},
    )


def _row(connection: Connection, key_id: str) -> Mapping[Any, Any] | None:
    return connection.execute(sa.select(admin_keys).where(admin_keys.c.id == key_id)).mappings().first()


def _check_tenant(connection: Connection, config: GatewayConfig, tenant: str, where: str) -> None:
    if any(configured.name == tenant for configured in config.tenants):
        return
    found = connection.execute(sa.select(admin_tenants.c.name).where(admin_tenants.c.name == tenant)).first()
    if found is None:
        raise GatewayError(
            Reason.TENANT_NOT_FOUND,
            f"{where}: no tenant named {shown(tenant)!r}: create it first (CreateTenant)",
            metadata={"tenant": shown(tenant)},
        )


def _check_policy(config: GatewayConfig, policy: KeyPolicy, where: str) -> None:
    if policy.pii.mode == "hash" and config.auth.pii_hash_salt is None:
        raise invalid_argument([FieldViolation(f"{where}.pii.mode", "mode `hash` needs auth.pii_hash_salt")])


def _tags(tags: Mapping[str, str], where: str) -> dict[str, str]:
    bad = [name for name in tags if not name or len(name) > 128]
    if bad:
        raise invalid_argument([FieldViolation(where, "tag names are 1 to 128 characters")])
    return dict(tags)


def _fresh_id(connection: Connection, config: GatewayConfig) -> tuple[str, str, str]:
    """A new key whose id neither the config nor the database has."""
    configured = {key.id for key in config.auth.keys}
    while True:
        secret, key_id, stored = new_key()
        if key_id not in configured and _row(connection, key_id) is None:
            return secret, key_id, stored


def create(
    engine: Engine, config: GatewayConfig, actor: Actor, request: admin_pb2.CreateKeyRequest, now_ms: int
) -> admin_pb2.CreateKeyResponse:
    if not request.tenant:
        raise invalid_argument([FieldViolation("tenant", "a key needs a tenant")])
    policy = messages.policy_settings(request.policy)
    _check_policy(config, policy, "policy")
    tags = _tags(request.tags, "tags")
    with engine.connect() as connection:
        _check_tenant(connection, config, request.tenant, "tenant")
        secret, key_id, stored = _fresh_id(connection, config)
    row = {
        "id": key_id,
        "hash": stored,
        "name": request.name,
        "tenant": request.tenant,
        "tags": tags,
        "policy": policy.model_dump(mode="json"),
        "created_ms": now_ms,
        "updated_ms": now_ms,
        "revoke_ms": None,
        "rotated_from": "",
    }
    with change(engine, actor, "CreateKey", "key", key_id, now_ms=now_ms) as record:
        record.connection.execute(sa.insert(admin_keys).values(row))
        key = messages.key_from_row(row, now_ms)
        record.after = messages.as_json(key)
    return admin_pb2.CreateKeyResponse(key=key, secret=secret)


def get(engine: Engine, config: GatewayConfig, key_id: str, now_ms: int) -> admin_pb2.Key:
    configured = next((key for key in config.auth.keys if key.id == key_id), None)
    if configured is not None:
        return messages.key_from_config(configured)
    with engine.connect() as connection:
        row = _row(connection, key_id)
    if row is None:
        raise _not_found(key_id)
    return messages.key_from_row(row, now_ms)


def list_keys(
    engine: Engine, config: GatewayConfig, request: admin_pb2.ListKeysRequest, now_ms: int
) -> admin_pb2.ListKeysResponse:
    """Config keys and stored keys, merged in id order, one page at a time."""
    page = Page.of(request.page_size, request.page_token)
    query = sa.select(admin_keys).where(admin_keys.c.id > page.after).order_by(admin_keys.c.id)
    if request.tenant:
        query = query.where(admin_keys.c.tenant == request.tenant)
    if not request.show_revoked:
        query = query.where(sa.or_(admin_keys.c.revoke_ms.is_(None), admin_keys.c.revoke_ms > now_ms))
    with engine.connect() as connection:
        rows = connection.execute(query.limit(page.size + 1)).mappings().all()
    keys = [messages.key_from_row(row, now_ms) for row in rows]
    keys += [
        messages.key_from_config(key)
        for key in config.auth.keys
        if key.id > page.after
        and (not request.tenant or key.tenant == request.tenant)
        and (request.show_revoked or not key.revoked)
    ]
    keys.sort(key=lambda key: key.id)
    shown_keys, token = page.cut(keys, lambda key: key.id)
    return admin_pb2.ListKeysResponse(keys=shown_keys, next_page_token=token)


def _stored_or_refused(connection: Connection, config: GatewayConfig, key_id: str) -> Mapping[Any, Any]:
    if any(key.id == key_id for key in config.auth.keys):
        raise _read_only(key_id)
    row = _row(connection, key_id)
    if row is None:
        raise _not_found(key_id)
    return row


def _merged(current: admin_pb2.Key, update: admin_pb2.Key, mask: field_mask_pb2.FieldMask) -> admin_pb2.Key:
    """`current` with the fields the mask names taken from `update` (unset there: cleared)."""
    paths = list(mask.paths) or list(_MUTABLE)
    bad = [
        path
        for path in paths
        if path not in _MUTABLE
        and not (path.startswith("policy.") and path.removeprefix("policy.") in _POLICY_FIELDS)
    ]
    if bad:
        raise invalid_argument(
            [
                FieldViolation(
                    "update_mask",
                    f"{shown(path)!r} cannot be changed: name, tenant, tags, policy or policy.<field>",
                )
                for path in bad
            ]
        )
    source = admin_pb2.Key()
    source.CopyFrom(update)
    # A path into the policy is merged only when the source has a policy: present (empty), so a
    # named field left unset clears the current one.
    source.policy.SetInParent()
    merged = admin_pb2.Key()
    merged.CopyFrom(current)
    field_mask_pb2.FieldMask(paths=paths).MergeMessage(
        source, merged, replace_message_field=True, replace_repeated_field=True
    )
    return merged


def update(
    engine: Engine, config: GatewayConfig, actor: Actor, request: admin_pb2.UpdateKeyRequest, now_ms: int
) -> admin_pb2.Key:
    key_id = request.key.id
    with change(engine, actor, "UpdateKey", "key", key_id, now_ms=now_ms) as record:
        connection = record.connection
        row = _stored_or_refused(connection, config, key_id)
        before = messages.key_from_row(row, now_ms)
        merged = _merged(before, request.key, request.update_mask)
        policy = messages.policy_settings(merged.policy, "key.policy")
        _check_policy(config, policy, "key.policy")
        if not merged.tenant:
            raise invalid_argument([FieldViolation("key.tenant", "a key needs a tenant")])
        if merged.tenant != before.tenant:
            _check_tenant(connection, config, merged.tenant, "key.tenant")
        values = {
            "name": merged.name,
            "tenant": merged.tenant,
            "tags": _tags(merged.tags, "key.tags"),
            "policy": policy.model_dump(mode="json"),
            "updated_ms": now_ms,
        }
        connection.execute(sa.update(admin_keys).where(admin_keys.c.id == key_id).values(values))
        after = messages.key_from_row({**row, **values}, now_ms)
        record.before, record.after = messages.as_json(before), messages.as_json(after)
    return after


def revoke(engine: Engine, config: GatewayConfig, actor: Actor, key_id: str, now_ms: int) -> admin_pb2.Key:
    with engine.connect() as connection:
        row = _stored_or_refused(connection, config, key_id)
    if row["revoke_ms"] is not None and row["revoke_ms"] <= now_ms:
        return messages.key_from_row(row, now_ms)  # already revoked: nothing changes, nothing to audit
    with change(engine, actor, "RevokeKey", "key", key_id, now_ms=now_ms) as record:
        row = _stored_or_refused(record.connection, config, key_id)
        values = {"revoke_ms": now_ms, "updated_ms": now_ms}
        record.connection.execute(sa.update(admin_keys).where(admin_keys.c.id == key_id).values(values))
        before, after = messages.key_from_row(row, now_ms), messages.key_from_row({**row, **values}, now_ms)
        record.before, record.after = messages.as_json(before), messages.as_json(after)
    return after


_MAX_GRACE_MS = 30 * 24 * 3600 * 1000


def rotate(
    engine: Engine, config: GatewayConfig, actor: Actor, request: admin_pb2.RotateKeyRequest, now_ms: int
) -> admin_pb2.RotateKeyResponse:
    grace_ms = request.grace.ToMilliseconds() if request.HasField("grace") else 0
    if not 0 <= grace_ms <= _MAX_GRACE_MS:
        raise invalid_argument([FieldViolation("grace", "between 0 and 30 days")])
    with engine.connect() as connection:
        _stored_or_refused(connection, config, request.id)
        secret, new_id, stored = _fresh_id(connection, config)
    with change(engine, actor, "RotateKey", "key", request.id, now_ms=now_ms) as record:
        connection = record.connection
        old = _stored_or_refused(connection, config, request.id)
        if old["revoke_ms"] is not None and old["revoke_ms"] <= now_ms:
            raise GatewayError(
                Reason.KEY_NOT_FOUND,
                f"key {request.id!r} is revoked: a revoked key cannot be rotated (create a new one)",
                metadata={"key_id": request.id},
            )
        revoke_ms = now_ms + grace_ms
        if old["revoke_ms"] is not None:
            revoke_ms = min(revoke_ms, old["revoke_ms"])
        new_row = {
            **old,
            "id": new_id,
            "hash": stored,
            "created_ms": now_ms,
            "updated_ms": now_ms,
            "revoke_ms": None,
            "rotated_from": request.id,
        }
        connection.execute(sa.insert(admin_keys).values(new_row))
        changed = {"revoke_ms": revoke_ms, "updated_ms": now_ms}
        connection.execute(sa.update(admin_keys).where(admin_keys.c.id == request.id).values(changed))
        previous = messages.key_from_row({**old, **changed}, now_ms)
        key = messages.key_from_row(new_row, now_ms)
        record.before = messages.as_json(messages.key_from_row(old, now_ms))
        record.after = {"previous": messages.as_json(previous), "new": messages.as_json(key)}
    return admin_pb2.RotateKeyResponse(key=key, secret=secret, previous=previous)
