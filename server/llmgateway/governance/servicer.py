"""The AdminService servicer: the admin credential first, then the operation on the database in a
worker thread (SQLAlchemy is synchronous here, as for the ledger's writer), then — for a change —
this replica's directory refreshed at once; the others follow within admin.poll_interval_s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgateway.admin.v1 import admin_pb2, admin_pb2_grpc
from llmgateway.config import GatewayConfig
from llmgateway.core.runtime import RuntimeHolder
from llmgateway.errors import GatewayError
from llmgateway.governance import audit, keys, tenants
from llmgateway.governance.changes import Actor
from llmgateway.governance.credentials import admin_actor, certificate_identities
from llmgateway.governance.sync import DirectorySync
from llmgateway.governance.usage import usage
from llmgateway.reasons import Reason

_log = logging.getLogger(__name__)
Context = grpc.aio.ServicerContext[Any, Any]
Result = TypeVar("Result")
_DATABASE_RETRY_S = 1.0


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        runtimes: RuntimeHolder,
        sync: DirectorySync | None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._runtimes = runtimes
        self._sync = sync
        self._wall = wall

    def _now_ms(self) -> int:
        return int(self._wall() * 1000)

    def _admin(self, context: Context) -> tuple[Actor, Engine, GatewayConfig]:
        """Who calls (or UNAUTHENTICATED / PERMISSION_DENIED), the database and the current config."""
        runtime = self._runtimes.current
        metadata = [(name, value) for name, value in context.invocation_metadata() or ()]
        actor = admin_actor(
            runtime.config.admin, metadata, certificate_identities(context.auth_context()), runtime.keys
        )
        if self._sync is None:
            raise GatewayError(
                Reason.ADMIN_DATABASE_MISSING,
                "the AdminService keeps keys and tenants in the gateway's database: configure ledger.url",
            )
        return actor, self._sync.engine, runtime.config

    async def _run(self, operation: Callable[..., Result], *args: Any) -> Result:
        try:
            return await asyncio.to_thread(operation, *args)
        except SQLAlchemyError as error:
            _log.warning("admin: the database is unavailable (%s)", error.__class__.__name__)
            raise GatewayError(
                Reason.ADMIN_DATABASE_UNAVAILABLE,
                f"the gateway's database is unavailable ({error.__class__.__name__}): try again",
                retry_after=_DATABASE_RETRY_S,
            ) from None

    async def _changed(self, actor: Actor, action: str, target: str) -> None:
        _log.info("admin: %s %s by %s", action, target, actor.name)
        assert self._sync is not None
        # Committed: if the refresh fails, the poll brings the change once the database answers.
        with contextlib.suppress(SQLAlchemyError):
            await self._sync.refresh()

    async def CreateKey(
        self, request: admin_pb2.CreateKeyRequest, context: Context
    ) -> admin_pb2.CreateKeyResponse:
        actor, engine, config = self._admin(context)
        response = await self._run(keys.create, engine, config, actor, request, self._now_ms())
        await self._changed(actor, "CreateKey", response.key.id)
        return response

    async def ListKeys(
        self, request: admin_pb2.ListKeysRequest, context: Context
    ) -> admin_pb2.ListKeysResponse:
        _, engine, config = self._admin(context)
        return await self._run(keys.list_keys, engine, config, request, self._now_ms())

    async def GetKey(self, request: admin_pb2.GetKeyRequest, context: Context) -> admin_pb2.GetKeyResponse:
        _, engine, config = self._admin(context)
        return admin_pb2.GetKeyResponse(
            key=await self._run(keys.get, engine, config, request.id, self._now_ms())
        )

    async def UpdateKey(
        self, request: admin_pb2.UpdateKeyRequest, context: Context
    ) -> admin_pb2.UpdateKeyResponse:
        actor, engine, config = self._admin(context)
        key = await self._run(keys.update, engine, config, actor, request, self._now_ms())
        await self._changed(actor, "UpdateKey", key.id)
        return admin_pb2.UpdateKeyResponse(key=key)

    async def RevokeKey(
        self, request: admin_pb2.RevokeKeyRequest, context: Context
    ) -> admin_pb2.RevokeKeyResponse:
        actor, engine, config = self._admin(context)
        key = await self._run(keys.revoke, engine, config, actor, request.id, self._now_ms())
        await self._changed(actor, "RevokeKey", key.id)
        return admin_pb2.RevokeKeyResponse(key=key)

    async def RotateKey(
        self, request: admin_pb2.RotateKeyRequest, context: Context
    ) -> admin_pb2.RotateKeyResponse:
        actor, engine, config = self._admin(context)
        response = await self._run(keys.rotate, engine, config, actor, request, self._now_ms())
        await self._changed(actor, "RotateKey", f"{request.id} -> {response.key.id}")
        return response

    async def CreateTenant(
        self, request: admin_pb2.CreateTenantRequest, context: Context
    ) -> admin_pb2.CreateTenantResponse:
        actor, engine, config = self._admin(context)
        tenant = await self._run(tenants.create, engine, config, actor, request, self._now_ms())
        await self._changed(actor, "CreateTenant", tenant.name)
        return admin_pb2.CreateTenantResponse(tenant=tenant)

    async def ListTenants(
        self, request: admin_pb2.ListTenantsRequest, context: Context
    ) -> admin_pb2.ListTenantsResponse:
        _, engine, config = self._admin(context)
        return await self._run(tenants.list_tenants, engine, config, request)

    async def GetTenant(
        self, request: admin_pb2.GetTenantRequest, context: Context
    ) -> admin_pb2.GetTenantResponse:
        _, engine, config = self._admin(context)
        return admin_pb2.GetTenantResponse(tenant=await self._run(tenants.get, engine, config, request.name))

    async def UpdateTenant(
        self, request: admin_pb2.UpdateTenantRequest, context: Context
    ) -> admin_pb2.UpdateTenantResponse:
        actor, engine, config = self._admin(context)
        tenant = await self._run(tenants.update, engine, config, actor, request, self._now_ms())
        await self._changed(actor, "UpdateTenant", tenant.name)
        return admin_pb2.UpdateTenantResponse(tenant=tenant)

    async def DeleteTenant(
        self, request: admin_pb2.DeleteTenantRequest, context: Context
    ) -> admin_pb2.DeleteTenantResponse:
        actor, engine, config = self._admin(context)
        tenant = await self._run(tenants.delete, engine, config, actor, request.name, self._now_ms())
        await self._changed(actor, "DeleteTenant", tenant.name)
        return admin_pb2.DeleteTenantResponse(tenant=tenant)

    async def GetUsage(
        self, request: admin_pb2.GetUsageRequest, context: Context
    ) -> admin_pb2.GetUsageResponse:
        _, engine, _ = self._admin(context)
        return await self._run(usage, engine, request, self._now_ms())

    async def ListAuditEvents(
        self, request: admin_pb2.ListAuditEventsRequest, context: Context
    ) -> admin_pb2.ListAuditEventsResponse:
        _, engine, _ = self._admin(context)
        return await self._run(audit.list_events, engine, request)
