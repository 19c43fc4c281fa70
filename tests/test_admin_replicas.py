"""Two gateways sharing one real PostgreSQL, as replicas do: a key made through one serves on the
other, and a key revoked or a limit tightened through one is enforced by the other, each within
a few poll intervals — no SIGHUP, no restart. And a database that goes away: the keys already
known keep serving, admin calls are UNAVAILABLE, and all is well once it is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from llmgateway.admin.v1 import admin_pb2
from llmgateway.app import Gateway
from tests.admin_support import ADMIN, Stubs, admin_config, bearer, eventually
from tests.conftest import StartGateway, chat_request, user
from tests.postgres_server import PASSWORD, PostgresServer

pytest_plugins = ["tests.postgres_fixtures", "tests.admin_fixtures"]

# admin_config polls every 0.2 s: "a few seconds" in production is admin.poll_interval_s (1 s).
WITHIN_S = 3.0


async def _serves(stubs: Stubs, secret: str) -> bool:
    try:
        await stubs.chat.Chat(chat_request("echo", user("hi")), metadata=bearer(secret), timeout=5)
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED):
            return False
        raise
    return True


async def test_changes_on_one_replica_reach_the_other(
    start_gateway: StartGateway, postgres_url: str, tmp_path: Path, stubs: Callable[[Gateway], Stubs]
) -> None:
    replicas = []
    for name in ("a", "b"):
        ledger = {"url": postgres_url, "migrate_on_start": True, "spool_dir": str(tmp_path / name)}
        replicas.append(stubs(await start_gateway(admin_config(ledger))))
    one, other = replicas
    await one.admin.CreateTenant(
        admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(name="acme")), metadata=ADMIN
    )
    made = await one.admin.CreateKey(admin_pb2.CreateKeyRequest(tenant="acme"), metadata=ADMIN)

    async def other_serves() -> bool:
        return await _serves(other, made.secret)

    async def other_refuses() -> bool:
        return not await _serves(other, made.secret)

    await eventually(other_serves, timeout_s=WITHIN_S)

    # A limit tightened on one replica: the other enforces it.
    limit = admin_pb2.UpdateKeyRequest(
        key=admin_pb2.Key(id=made.key.id, policy=admin_pb2.KeyPolicy(rpm=1)),
        update_mask=field_mask_pb2.FieldMask(paths=["policy.rpm"]),
    )
    await one.admin.UpdateKey(limit, metadata=ADMIN)
    await eventually(other_refuses, timeout_s=WITHIN_S)

    unlimit = admin_pb2.UpdateKeyRequest(
        key=admin_pb2.Key(id=made.key.id), update_mask=field_mask_pb2.FieldMask(paths=["policy.rpm"])
    )
    await one.admin.UpdateKey(unlimit, metadata=ADMIN)
    await eventually(other_serves, timeout_s=WITHIN_S)

    await one.admin.RevokeKey(admin_pb2.RevokeKeyRequest(id=made.key.id), metadata=ADMIN)
    took = await eventually(other_refuses, timeout_s=WITHIN_S)
    assert took < WITHIN_S
    assert not await _serves(one, made.secret)


async def test_keys_keep_working_while_the_database_is_away(
    private_postgres: PostgresServer,
    start_gateway: StartGateway,
    tmp_path: Path,
    stubs: Callable[[Gateway], Stubs],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = private_postgres.create_database("gateway")
    ledger = {"url": url, "migrate_on_start": True, "spool_dir": str(tmp_path / "spool")}
    client = stubs(await start_gateway(admin_config(ledger)))
    await client.admin.CreateTenant(
        admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(name="acme")), metadata=ADMIN
    )
    made = await client.admin.CreateKey(admin_pb2.CreateKeyRequest(tenant="acme"), metadata=ADMIN)

    await asyncio.to_thread(private_postgres.stop)
    await asyncio.sleep(1.0)  # several poll intervals
    assert await _serves(client, made.secret)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.admin.ListKeys(admin_pb2.ListKeysRequest(), metadata=ADMIN, timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    await asyncio.to_thread(private_postgres.start)

    async def revoked() -> bool:
        try:
            await client.admin.RevokeKey(
                admin_pb2.RevokeKeyRequest(id=made.key.id), metadata=ADMIN, timeout=30
            )
        except grpc.aio.AioRpcError as error:
            failures.append(error.code())
            return False
        return True

    failures: list[grpc.StatusCode] = []
    await eventually(revoked, timeout_s=30, step_s=0.5)
    assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}
    assert not await _serves(client, made.secret)
    sync_lines = [r for r in caplog.records if r.name.startswith("llmgateway.governance")]
    outages = [r for r in sync_lines if r.levelno == logging.WARNING and "unavailable" in r.getMessage()]
    assert outages, "the outage is said"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert PASSWORD not in caplog.text
