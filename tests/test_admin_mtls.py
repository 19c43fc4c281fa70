"""An admin by TLS client certificate: with server.tls requiring client certificates, a
certificate whose common name is in admin.client_identities is an admin (audited by that name);
another verified certificate, without a key, is not."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from llmgateway.admin.v1 import admin_pb2, admin_pb2_grpc
from llmgateway.cli import main
from llmgateway.config import ConfigError, parse_config
from llmgateway.config.ledger import sqlite_url
from tests.admin_support import admin_config
from tests.conftest import StartGateway
from tests.pki import make_pki


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    return make_pki(tmp_path)


def _tls_config(pki: dict[str, Path], tmp_path: Path, identities: list[str]) -> dict[str, Any]:
    config = admin_config({"url": sqlite_url(tmp_path / "gw.db")})
    config["server"] = {
        "tls": {
            "cert_file": str(pki["server"]),
            "key_file": str(pki["server_key"]),
            "client_ca_file": str(pki["ca"]),
            "require_client_cert": True,
        }
    }
    config["admin"]["client_identities"] = identities
    return config


def _credentials(pki: dict[str, Path]) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki["client_key"].read_bytes(),
        certificate_chain=pki["client"].read_bytes(),
    )


async def test_a_named_client_certificate_is_an_admin(
    start_gateway: StartGateway, pki: dict[str, Path], tmp_path: Path
) -> None:
    gateway = await start_gateway(_tls_config(pki, tmp_path, ["client"]))
    async with grpc.aio.secure_channel(f"127.0.0.1:{gateway.port}", _credentials(pki)) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        await admin.CreateTenant(admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(name="acme")))
        events = (await admin.ListAuditEvents(admin_pb2.ListAuditEventsRequest())).events
        assert [(e.actor, e.action) for e in events] == [("client-cert:client", "CreateTenant")]


async def test_another_client_certificate_is_not(
    start_gateway: StartGateway, pki: dict[str, Path], tmp_path: Path
) -> None:
    gateway = await start_gateway(_tls_config(pki, tmp_path, ["ops.example.com"]))
    async with grpc.aio.secure_channel(f"127.0.0.1:{gateway.port}", _credentials(pki)) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.ListTenants(admin_pb2.ListTenantsRequest())
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_client_identities_need_client_certificates_required() -> None:
    config = admin_config({})
    config["admin"]["client_identities"] = ["ops"]
    with pytest.raises(ConfigError, match="require_client_cert"):
        parse_config(config, env={})


async def test_the_cli_can_be_an_admin_by_its_certificate(
    start_gateway: StartGateway, pki: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = await start_gateway(_tls_config(pki, tmp_path, ["client"]))
    tls = ["--tls-ca", str(pki["ca"]), "--tls-cert", str(pki["client"]), "--tls-key", str(pki["client_key"])]
    # The server certificate names localhost and 127.0.0.1.
    argv = [
        "admin",
        "--address",
        f"localhost:{gateway.port}",
        *tls,
        "tenants",
        "create",
        "acme",
        "--rpm",
        "5",
    ]
    assert await asyncio.to_thread(main, argv) == 0
    assert "rpm=5" in capsys.readouterr().out
    argv = ["admin", "--address", f"localhost:{gateway.port}", "--tls-ca", str(pki["ca"]), "tenants", "list"]
    assert await asyncio.to_thread(main, argv) == 2, "neither an admin key nor a certificate"
    assert "--tls-cert" in capsys.readouterr().err
