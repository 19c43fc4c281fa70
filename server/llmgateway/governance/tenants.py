"""Tenant operations on the database: create, read, list, update, delete. A tenant's limits and
budget are shared by all its keys (limits/admission.py reads them from the directory). Tenants
from the config file are listed and read, never changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from llmgateway.admin.v1 import admin_pb2
from llmgateway.config import GatewayConfig
from llmgateway.errors import FieldViolation, GatewayError, invalid_argument, shown
from llmgateway.governance import messages
from llmgateway.governance.changes import Actor, change
from llmgateway.governance.pages import Page
from llmgateway.ledger.schema import admin_keys, admin_tenants
from llmgateway.reasons import Reason

_MUTABLE = ("rpm", "tpm", "max_concurrent", "budget", "disabled")


def _not_found(name: str) -> GatewayError:
    return GatewayError(
        Reason.TENANT_NOT_FOUND, f"no tenant named {shown(name)!r}", metadata={"tenant": shown(name)}
    )


def _exists(name: str, where: str) -> GatewayError:
    return GatewayError(
        Reason.TENANT_EXISTS, f"a tenant named {name!r} already exists ({where})", metadata={"tenant": name}
    )


def _configured(config: GatewayConfig, name: str) -> bool:
    return any(tenant.name == name for tenant in config.tenants)


def _row(connection: Connection, name: str) -> Mapping[Any, Any] | None:
    return connection.execute(sa.select(admin_tenants).where(admin_tenants.c.name == name)).mappings().first()


def _stored_or_refused(connection: Connection, config: GatewayConfig, name: str) -> Mapping[Any, Any]:
    if _configured(config, name):
        raise GatewayError(
            Reason.DEFINED_IN_CONFIG,
            f"tenant {name!r} is defined in the config file (tenants): change it there and reload the "
            "gateway (SIGHUP)",
            metadata={"tenant": name},
        )
    row = _row(connection, name)
    if row is None:
        raise _not_found(name)
    return row


def create(
    engine: Engine, config: GatewayConfig, actor: Actor, request: admin_pb2.CreateTenantRequest, now_ms: int
) -> admin_pb2.Tenant:
    settings = messages.tenant_settings(request.tenant)
    if _configured(config, settings.name):
        raise _exists(settings.name, "in the config file")
    row = {
        "name": settings.name,
        "limits": messages.limits_json(settings),
        "disabled": request.tenant.disabled,
        "created_ms": now_ms,
        "updated_ms": now_ms,
    }
    try:
        with change(engine, actor, "CreateTenant", "tenant", settings.name, now_ms=now_ms) as record:
            record.connection.execute(sa.insert(admin_tenants).values(row))
            tenant = messages.tenant_from_row(row)
            record.after = messages.as_json(tenant)
    except IntegrityError:
        raise _exists(settings.name, "in the database") from None
    return tenant


def get(engine: Engine, config: GatewayConfig, name: str) -> admin_pb2.Tenant:
    configured = next((tenant for tenant in config.tenants if tenant.name == name), None)
    if configured is not None:
        return messages.tenant_from_config(configured)
    with engine.connect() as connection:
        row = _row(connection, name)
    if row is None:
        raise _not_found(name)
    return messages.tenant_from_row(row)


def list_tenants(
    engine: Engine, config: GatewayConfig, request: admin_pb2.ListTenantsRequest
) -> admin_pb2.ListTenantsResponse:
    page = Page.of(request.page_size, request.page_token)
    query = sa.select(admin_tenants).where(admin_tenants.c.name > page.after).order_by(admin_tenants.c.name)
    with engine.connect() as connection:
        rows = connection.execute(query.limit(page.size + 1)).mappings().all()
    tenants = [messages.tenant_from_row(row) for row in rows]
    tenants += [messages.tenant_from_config(tenant) for tenant in config.tenants if tenant.name > page.after]
    tenants.sort(key=lambda tenant: tenant.name)
    shown_tenants, token = page.cut(tenants, lambda tenant: tenant.name)
    return admin_pb2.ListTenantsResponse(tenants=shown_tenants, next_page_token=token)


def update(
    engine: Engine, config: GatewayConfig, actor: Actor, request: admin_pb2.UpdateTenantRequest, now_ms: int
) -> admin_pb2.Tenant:
    name = request.tenant.name
    paths = list(request.update_mask.paths) or list(_MUTABLE)
    bad = [path for path in paths if path not in _MUTABLE]
    if bad:
        raise invalid_argument(
            [
                FieldViolation("update_mask", f"{shown(path)!r} cannot be changed: {', '.join(_MUTABLE)}")
                for path in bad
            ]
        )
    with change(engine, actor, "UpdateTenant", "tenant", name, now_ms=now_ms) as record:
        row = _stored_or_refused(record.connection, config, name)
        before = messages.tenant_from_row(row)
        merged = admin_pb2.Tenant()
        merged.CopyFrom(before)
        field_mask_pb2.FieldMask(paths=paths).MergeMessage(request.tenant, merged, replace_message_field=True)
        settings = messages.tenant_settings(merged)
        values = {"limits": messages.limits_json(settings), "disabled": merged.disabled, "updated_ms": now_ms}
        record.connection.execute(sa.update(admin_tenants).where(admin_tenants.c.name == name).values(values))
        after = messages.tenant_from_row({**row, **values})
        record.before, record.after = messages.as_json(before), messages.as_json(after)
    return after


def delete(engine: Engine, config: GatewayConfig, actor: Actor, name: str, now_ms: int) -> admin_pb2.Tenant:
    with change(engine, actor, "DeleteTenant", "tenant", name, now_ms=now_ms) as record:
        connection = record.connection
        row = _stored_or_refused(connection, config, name)
        active = connection.execute(
            sa.select(sa.func.count())
            .select_from(admin_keys)
            .where(admin_keys.c.tenant == name)
            .where(sa.or_(admin_keys.c.revoke_ms.is_(None), admin_keys.c.revoke_ms > now_ms))
        ).scalar_one()
        if active:
            raise GatewayError(
                Reason.TENANT_HAS_KEYS,
                f"tenant {name!r} has {active} unrevoked keys: revoke them first, or disable the tenant",
                metadata={"tenant": name, "keys": str(active)},
            )
        connection.execute(sa.delete(admin_tenants).where(admin_tenants.c.name == name))
        before = messages.tenant_from_row(row)
        record.before = messages.as_json(before)
    return before
