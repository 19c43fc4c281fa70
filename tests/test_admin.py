"""The AdminService over real gRPC against a real database (SQLite and PostgreSQL): admin
credentials (none: UNAUTHENTICATED; a gateway key: PERMISSION_DENIED), keys made, listed, read,
updated, revoked and rotated, with their effect on the very next call; tenants whose limits their
keys share; config keys and tenants listed but read-only; bad input as INVALID_ARGUMENT naming the
field; every change audited, and no secret in the audit record, an error or a log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import grpc
import openai
import pytest
import sqlalchemy as sa
from google.protobuf import duration_pb2, field_mask_pb2
from google.protobuf.json_format import MessageToDict
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from llmgateway.admin.v1 import admin_pb2
from llmgateway.ledger.schema import admin_audit_events, admin_keys
from tests.admin_support import (
    ADMIN,
    ADMIN_ID,
    CONFIG_AUTH,
    CONFIG_KEY_ID,
    Stubs,
    admin_config,
    bearer,
    eventually,
)
from tests.conftest import StartGateway, chat_request, user
from tests.ledger_rows import rows_when_settled
from tests.openai_door import door_url
from tests.rich_status import rich_status

pytest_plugins = ["tests.postgres_fixtures", "tests.admin_fixtures"]

OpenStubs = Callable[[Any], Stubs]


async def _started(
    start_gateway: StartGateway, ledger: dict[str, Any], open_stubs: OpenStubs, **extra: Any
) -> Stubs:
    return open_stubs(await start_gateway(admin_config(ledger, **extra)))


async def _refused(call: Any) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return rich_status(raised.value)


async def _chat(stubs: Stubs, secret: str, model: str = "echo") -> Any:
    return await stubs.chat.Chat(chat_request(model, user("hi")), metadata=bearer(secret), timeout=5)


async def _tenant(stubs: Stubs, name: str, **limits: Any) -> admin_pb2.Tenant:
    response = await stubs.admin.CreateTenant(
        admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(name=name, **limits)), metadata=ADMIN
    )
    return response.tenant


async def _key(stubs: Stubs, tenant: str, **fields: Any) -> admin_pb2.CreateKeyResponse:
    return await stubs.admin.CreateKey(admin_pb2.CreateKeyRequest(tenant=tenant, **fields), metadata=ADMIN)


async def test_admin_calls_need_an_admin_credential(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    calls: list[tuple[Any, Any]] = [
        (client.admin.CreateKey, admin_pb2.CreateKeyRequest(tenant="gitops")),
        (client.admin.ListKeys, admin_pb2.ListKeysRequest()),
        (client.admin.GetKey, admin_pb2.GetKeyRequest(id=CONFIG_KEY_ID)),
        (client.admin.UpdateKey, admin_pb2.UpdateKeyRequest()),
        (client.admin.RevokeKey, admin_pb2.RevokeKeyRequest(id=CONFIG_KEY_ID)),
        (client.admin.RotateKey, admin_pb2.RotateKeyRequest(id=CONFIG_KEY_ID)),
        (client.admin.CreateTenant, admin_pb2.CreateTenantRequest()),
        (client.admin.ListTenants, admin_pb2.ListTenantsRequest()),
        (client.admin.GetTenant, admin_pb2.GetTenantRequest(name="gitops")),
        (client.admin.UpdateTenant, admin_pb2.UpdateTenantRequest()),
        (client.admin.DeleteTenant, admin_pb2.DeleteTenantRequest(name="gitops")),
        (client.admin.GetUsage, admin_pb2.GetUsageRequest()),
        (client.admin.ListAuditEvents, admin_pb2.ListAuditEventsRequest()),
    ]
    assert len(calls) == len(admin_pb2.DESCRIPTOR.services_by_name["AdminService"].methods)
    for method, request in calls:
        missing = await _refused(method(request))
        assert (missing.code, missing.reason) == (grpc.StatusCode.UNAUTHENTICATED, "MISSING_API_KEY")
        ordinary = await _refused(method(request, metadata=CONFIG_AUTH))
        assert (ordinary.code, ordinary.reason) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "ADMIN_CREDENTIAL_REQUIRED",
        )
        forged = await _refused(method(request, metadata=bearer(f"llmgw-{ADMIN_ID}-{'x' * 43}")))
        assert (forged.code, forged.reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_API_KEY")
    # Nothing was changed by any of them.
    audit = await client.admin.ListAuditEvents(admin_pb2.ListAuditEventsRequest(), metadata=ADMIN)
    assert list(audit.events) == []


async def test_an_admin_key_is_not_a_gateway_key(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    status = await _refused(client.chat.Chat(chat_request("echo", user("hi")), metadata=ADMIN))
    assert status.code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_created_key_serves_at_once_and_a_revoked_one_is_refused_at_once(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme")
    created = await _key(client, "acme", name="search", tags={"cost_centre": "cc-42"})
    assert created.secret.startswith(f"llmgw-{created.key.id}-")
    assert created.key.source == admin_pb2.SOURCE_API
    assert created.key.display_prefix == f"llmgw-{created.key.id}-…"
    assert not created.key.revoked
    answer = await _chat(client, created.secret)
    assert answer.message.parts[0].text
    # The key's tags ride with the call into the ledger.
    [row] = await rows_when_settled(ledger["url"], 1)
    assert (row["key_id"], row["tenant"], row["tags"]) == (created.key.id, "acme", {"cost_centre": "cc-42"})

    revoked = await client.admin.RevokeKey(admin_pb2.RevokeKeyRequest(id=created.key.id), metadata=ADMIN)
    assert revoked.key.revoked and revoked.key.HasField("revoke_time")
    status = await _refused(_chat(client, created.secret))
    assert (status.code, status.reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_API_KEY")
    # Listed only on request once revoked.
    listed = await client.admin.ListKeys(admin_pb2.ListKeysRequest(tenant="acme"), metadata=ADMIN)
    assert [key.id for key in listed.keys] == []
    listed = await client.admin.ListKeys(
        admin_pb2.ListKeysRequest(tenant="acme", show_revoked=True), metadata=ADMIN
    )
    assert [key.id for key in listed.keys] == [created.key.id]


async def test_a_policy_update_applies_to_the_next_call(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme")
    created = await _key(client, "acme")
    await _chat(client, created.secret, "other")
    update = admin_pb2.UpdateKeyRequest(
        key=admin_pb2.Key(id=created.key.id, policy=admin_pb2.KeyPolicy(models=["echo"], rpm=1)),
        update_mask=field_mask_pb2.FieldMask(paths=["policy.models", "policy.rpm"]),
    )
    updated = (await client.admin.UpdateKey(update, metadata=ADMIN)).key
    assert list(updated.policy.models) == ["echo"] and updated.policy.rpm == 1
    status = await _refused(_chat(client, created.secret, "other"))
    assert (status.code, status.reason) == (grpc.StatusCode.PERMISSION_DENIED, "MODEL_NOT_ALLOWED")
    await _chat(client, created.secret)
    status = await _refused(_chat(client, created.secret))
    assert (status.code, status.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    # A limit named in the mask but unset is removed.
    clear = admin_pb2.UpdateKeyRequest(
        key=admin_pb2.Key(id=created.key.id), update_mask=field_mask_pb2.FieldMask(paths=["policy.rpm"])
    )
    cleared = (await client.admin.UpdateKey(clear, metadata=ADMIN)).key
    assert not cleared.policy.HasField("rpm") and list(cleared.policy.models) == ["echo"]
    await _chat(client, created.secret)


async def test_a_tenants_limits_are_shared_by_its_keys_and_disabling_it_refuses_them(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme", rpm=2)
    first, second = await _key(client, "acme"), await _key(client, "acme")
    await _chat(client, first.secret)
    await _chat(client, second.secret)
    status = await _refused(_chat(client, first.secret))
    assert status.reason == "RATE_LIMITED"
    assert status.error_info.metadata["scope"] == "tenant"

    disable = admin_pb2.UpdateTenantRequest(
        tenant=admin_pb2.Tenant(name="acme", disabled=True),
        update_mask=field_mask_pb2.FieldMask(paths=["disabled"]),
    )
    updated = (await client.admin.UpdateTenant(disable, metadata=ADMIN)).tenant
    assert updated.disabled and updated.rpm == 2
    status = await _refused(_chat(client, second.secret))
    assert status.code == grpc.StatusCode.UNAUTHENTICATED
    # A tenant with unrevoked keys is not deleted; once they are revoked, it is.
    status = await _refused(
        client.admin.DeleteTenant(admin_pb2.DeleteTenantRequest(name="acme"), metadata=ADMIN)
    )
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TENANT_HAS_KEYS")
    for key in (first, second):
        await client.admin.RevokeKey(admin_pb2.RevokeKeyRequest(id=key.key.id), metadata=ADMIN)
    deleted = await client.admin.DeleteTenant(admin_pb2.DeleteTenantRequest(name="acme"), metadata=ADMIN)
    assert deleted.tenant.name == "acme"
    status = await _refused(client.admin.GetTenant(admin_pb2.GetTenantRequest(name="acme"), metadata=ADMIN))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "TENANT_NOT_FOUND")


async def test_rotation_gives_a_new_secret_and_retires_the_old_after_its_grace(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme")
    old = await _key(client, "acme", tags={"team": "a"}, policy=admin_pb2.KeyPolicy(models=["echo"]))
    rotated = await client.admin.RotateKey(
        admin_pb2.RotateKeyRequest(id=old.key.id, grace=duration_pb2.Duration(seconds=1)), metadata=ADMIN
    )
    assert rotated.secret != old.secret and rotated.key.id != old.key.id
    assert rotated.key.rotated_from == old.key.id
    assert (dict(rotated.key.tags), list(rotated.key.policy.models)) == ({"team": "a"}, ["echo"])
    assert not rotated.previous.revoked and rotated.previous.HasField("revoke_time")
    await _chat(client, old.secret)  # within the grace
    await _chat(client, rotated.secret)

    async def old_refused() -> bool:
        try:
            await _chat(client, old.secret)
        except grpc.aio.AioRpcError as error:
            return error.code() == grpc.StatusCode.UNAUTHENTICATED
        return False

    await eventually(old_refused, timeout_s=5)
    await _chat(client, rotated.secret)
    # Without a grace, at once.
    again = await client.admin.RotateKey(admin_pb2.RotateKeyRequest(id=rotated.key.id), metadata=ADMIN)
    assert again.previous.revoked
    assert (await _refused(_chat(client, rotated.secret))).code == grpc.StatusCode.UNAUTHENTICATED
    await _chat(client, again.secret)


async def test_config_keys_and_tenants_are_listed_and_read_only(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme")
    made = await _key(client, "acme")
    listed = await client.admin.ListKeys(admin_pb2.ListKeysRequest(), metadata=ADMIN)
    assert sorted(key.id for key in listed.keys) == sorted([CONFIG_KEY_ID, made.key.id])
    [configured] = [key for key in listed.keys if key.id == CONFIG_KEY_ID]
    assert (configured.source, configured.tenant, configured.name) == (
        admin_pb2.SOURCE_CONFIG,
        "gitops",
        "from the file",
    )
    for call in (
        client.admin.RevokeKey(admin_pb2.RevokeKeyRequest(id=CONFIG_KEY_ID), metadata=ADMIN),
        client.admin.RotateKey(admin_pb2.RotateKeyRequest(id=CONFIG_KEY_ID), metadata=ADMIN),
        client.admin.UpdateKey(
            admin_pb2.UpdateKeyRequest(key=admin_pb2.Key(id=CONFIG_KEY_ID, name="x")), metadata=ADMIN
        ),
        client.admin.UpdateTenant(
            admin_pb2.UpdateTenantRequest(tenant=admin_pb2.Tenant(name="gitops", rpm=1)), metadata=ADMIN
        ),
        client.admin.DeleteTenant(admin_pb2.DeleteTenantRequest(name="gitops"), metadata=ADMIN),
    ):
        status = await _refused(call)
        assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DEFINED_IN_CONFIG")
        assert "config file" in status.message
    status = await _refused(
        client.admin.CreateTenant(
            admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(name="gitops")), metadata=ADMIN
        )
    )
    assert (status.code, status.reason) == (grpc.StatusCode.ALREADY_EXISTS, "TENANT_EXISTS")
    tenants = await client.admin.ListTenants(admin_pb2.ListTenantsRequest(), metadata=ADMIN)
    assert [(t.name, t.source) for t in tenants.tenants] == [
        ("acme", admin_pb2.SOURCE_API),
        ("gitops", admin_pb2.SOURCE_CONFIG),
    ]
    # The config key still works, and a stored key may belong to a config tenant.
    await client.chat.Chat(chat_request("echo", user("hi")), metadata=CONFIG_AUTH, timeout=5)
    on_config_tenant = await _key(client, "gitops")
    await _chat(client, on_config_tenant.secret)


async def test_lists_come_in_pages(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme")
    made = {(await _key(client, "acme")).key.id for _ in range(5)}
    seen: list[str] = []
    token = ""
    while True:
        page = await client.admin.ListKeys(
            admin_pb2.ListKeysRequest(page_size=2, page_token=token), metadata=ADMIN
        )
        assert len(page.keys) <= 2
        seen += [key.id for key in page.keys]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(made | {CONFIG_KEY_ID})
    status = await _refused(
        client.admin.ListKeys(admin_pb2.ListKeysRequest(page_token="%%%"), metadata=ADMIN)
    )
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_bad_input_names_the_field(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme")
    cases: list[tuple[Any, grpc.StatusCode, str, str]] = [
        (
            admin_pb2.CreateKeyRequest(tenant="acme", policy=admin_pb2.KeyPolicy(rpm=0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
            "policy.rpm",
        ),
        (
            admin_pb2.CreateKeyRequest(
                tenant="acme", policy=admin_pb2.KeyPolicy(pii=admin_pb2.PiiPolicy(prompts="shout"))
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
            "policy.pii.prompts",
        ),
        (
            admin_pb2.CreateKeyRequest(
                tenant="acme", policy=admin_pb2.KeyPolicy(pii=admin_pb2.PiiPolicy(mode="hash"))
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
            "policy.pii.mode",
        ),
        (
            admin_pb2.CreateKeyRequest(tenant=""),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
            "tenant",
        ),
        (admin_pb2.CreateKeyRequest(tenant="nobody"), grpc.StatusCode.NOT_FOUND, "TENANT_NOT_FOUND", ""),
    ]
    for request, code, reason, field in cases:
        status = await _refused(client.admin.CreateKey(request, metadata=ADMIN))
        assert (status.code, status.reason) == (code, reason), request
        if field:
            violations = status.detail(error_details_pb2.BadRequest).field_violations
            assert [v.field for v in violations] == [field]
    made = await _key(client, "acme")
    status = await _refused(
        client.admin.UpdateKey(
            admin_pb2.UpdateKeyRequest(
                key=admin_pb2.Key(id=made.key.id), update_mask=field_mask_pb2.FieldMask(paths=["id"])
            ),
            metadata=ADMIN,
        )
    )
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert status.detail(error_details_pb2.BadRequest).field_violations[0].field == "update_mask"
    status = await _refused(client.admin.GetKey(admin_pb2.GetKeyRequest(id="nope"), metadata=ADMIN))
    assert (status.code, status.reason) == (grpc.StatusCode.NOT_FOUND, "KEY_NOT_FOUND")
    status = await _refused(
        client.admin.CreateTenant(
            admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(name="bad name!")), metadata=ADMIN
        )
    )
    assert status.detail(error_details_pb2.BadRequest).field_violations[0].field == "tenant.name"
    status = await _refused(
        client.admin.CreateTenant(
            admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(name="b", budget=admin_pb2.Budget(usd=-1))),
            metadata=ADMIN,
        )
    )
    assert status.detail(error_details_pb2.BadRequest).field_violations[0].field == "tenant.budget.usd"
    status = await _refused(
        client.admin.RotateKey(
            admin_pb2.RotateKeyRequest(id=made.key.id, grace=duration_pb2.Duration(seconds=-5)),
            metadata=ADMIN,
        )
    )
    assert status.detail(error_details_pb2.BadRequest).field_violations[0].field == "grace"


async def test_every_change_is_audited_and_no_secret_is_kept_or_logged(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme", rpm=10)
    made = await _key(client, "acme", policy=admin_pb2.KeyPolicy(rpm=5))
    update = admin_pb2.UpdateKeyRequest(
        key=admin_pb2.Key(id=made.key.id, policy=admin_pb2.KeyPolicy(rpm=7)),
        update_mask=field_mask_pb2.FieldMask(paths=["policy.rpm"]),
    )
    await client.admin.UpdateKey(update, metadata=ADMIN)
    rotated = await client.admin.RotateKey(admin_pb2.RotateKeyRequest(id=made.key.id), metadata=ADMIN)
    await client.admin.RevokeKey(admin_pb2.RevokeKeyRequest(id=rotated.key.id), metadata=ADMIN)

    events = (await client.admin.ListAuditEvents(admin_pb2.ListAuditEventsRequest(), metadata=ADMIN)).events
    assert [(e.action, e.target) for e in events] == [
        ("RevokeKey", rotated.key.id),
        ("RotateKey", made.key.id),
        ("UpdateKey", made.key.id),
        ("CreateKey", made.key.id),
        ("CreateTenant", "acme"),
    ]
    assert {e.actor for e in events} == {f"admin-key:{ADMIN_ID}"}
    assert [e.id for e in events] == sorted((e.id for e in events), reverse=True)
    updated = events[2]
    before, after = MessageToDict(updated.before), MessageToDict(updated.after)
    assert before["policy"]["rpm"] == 5 and after["policy"]["rpm"] == 7
    assert not events[4].HasField("before")
    only_key = await client.admin.ListAuditEvents(
        admin_pb2.ListAuditEventsRequest(target=rotated.key.id), metadata=ADMIN
    )
    assert [e.action for e in only_key.events] == ["RevokeKey"]

    # Secrets: not in the audit rows, not in the logs; the hash only in the keys table.
    engine = sa.create_engine(ledger["url"])
    with engine.connect() as connection:
        audit_text = json.dumps(
            [dict(r) for r in connection.execute(sa.select(admin_audit_events)).mappings()], default=str
        )
        hashes = [row.hash for row in connection.execute(sa.select(admin_keys.c.hash))]
    engine.dispose()
    for secret in (made.secret, rotated.secret):
        tail = secret.split("-", 2)[2]
        assert tail not in audit_text and tail not in caplog.text
    for stored in hashes:
        assert stored.split("$")[2] not in audit_text and stored.split("$")[2] not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_without_a_database_the_service_says_what_it_needs(
    start_gateway: StartGateway, stubs: OpenStubs
) -> None:
    config = admin_config({})
    del config["ledger"]
    client = stubs(await start_gateway(config))
    status = await _refused(client.admin.ListKeys(admin_pb2.ListKeysRequest(), metadata=ADMIN))
    assert (status.code, status.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ADMIN_DATABASE_MISSING")
    assert "ledger.url" in status.message


async def test_the_admin_service_is_reflected(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(client.channel)  # type: ignore[arg-type]

    async def ask() -> Any:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    [answer] = [r async for r in stub.ServerReflectionInfo(ask(), timeout=2)]
    assert "llmgateway.admin.v1.AdminService" in {s.name for s in answer.list_services_response.service}


async def test_concurrent_admins_lose_no_change(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme")
    made = await asyncio.gather(*(_key(client, "acme") for _ in range(8)))
    listed = await client.admin.ListKeys(admin_pb2.ListKeysRequest(tenant="acme"), metadata=ADMIN)
    assert sorted(key.id for key in listed.keys) == sorted(m.key.id for m in made)
    for m in made:
        await _chat(client, m.secret)


async def test_a_pii_policy_change_applies_to_the_next_call(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    client = await _started(start_gateway, ledger, stubs)
    await _tenant(client, "acme")
    made = await _key(
        client, "acme", policy=admin_pb2.KeyPolicy(pii=admin_pb2.PiiPolicy(prompts="reject", kinds=["email"]))
    )
    prompt = chat_request("echo", user("write to jane.doe@example.com"))
    status = await _refused(client.chat.Chat(prompt, metadata=bearer(made.secret), timeout=5))
    assert (status.code, status.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PII_DETECTED")
    redact = admin_pb2.UpdateKeyRequest(
        key=admin_pb2.Key(
            id=made.key.id, policy=admin_pb2.KeyPolicy(pii=admin_pb2.PiiPolicy(prompts="redact"))
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["policy.pii"]),
    )
    await client.admin.UpdateKey(redact, metadata=ADMIN)
    answer = await client.chat.Chat(prompt, metadata=bearer(made.secret), timeout=5)
    text = answer.message.parts[0].text
    assert "jane.doe@example.com" not in text and "[EMAIL]" in text


async def test_the_http_doors_take_keys_made_through_the_api(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: OpenStubs
) -> None:
    gateway = await start_gateway(admin_config(ledger, server={"http_listen": "127.0.0.1:0"}))
    client = stubs(gateway)
    await _tenant(client, "acme")
    made = await _key(client, "acme")
    sdk = openai.AsyncOpenAI(base_url=door_url(gateway), api_key=made.secret, max_retries=0)
    completion = await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content
    await client.admin.RevokeKey(admin_pb2.RevokeKeyRequest(id=made.key.id), metadata=ADMIN)
    with pytest.raises(openai.AuthenticationError):
        await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    await sdk.close()
