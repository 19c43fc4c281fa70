"""deploy/check.py (make check-deploy) passes on the repository and fails on what it is there to
catch: a manifest field the API does not have, probes off the gRPC port, a grace period shorter than
the drain, plain manifests that drift from the chart. And the chart renders what its values ask."""

from __future__ import annotations

import copy
import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _gobin_helm() -> str | None:
    found = shutil.which("helm")
    if found:
        return found
    gopath = subprocess.run(
        ["go", "env", "GOPATH"], capture_output=True, text=True, check=False
    ).stdout.strip()
    candidate = Path(gopath or Path.home() / "go") / "bin" / "helm"
    return str(candidate) if candidate.exists() else None


# helm and `llmgateway check-config` run as processes, slow on a loaded machine.
pytestmark = pytest.mark.timeout(600)
HELM = _gobin_helm()
needs_helm = pytest.mark.skipif(
    HELM is None, reason="helm is installed by `make tools-helm` (make test does)"
)


def load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_check", ROOT / "deploy" / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = load_check()


@pytest.fixture(scope="module")
def chart() -> dict[tuple[str, str], dict[str, Any]]:
    assert HELM is not None
    docs: dict[tuple[str, str], dict[str, Any]] = check.render(HELM)
    return docs


def deployment(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = check.only(docs, "Deployment")
    return found


@needs_helm
def test_the_repository_passes(tmp_path: Path) -> None:
    assert check.main(["--helm", str(HELM)]) == 0


@needs_helm
def test_a_misspelt_field_fails_the_schema_check(chart: dict[tuple[str, str], dict[str, Any]]) -> None:
    docs = copy.deepcopy(chart)
    container = deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["periodSecond"] = 2
    with pytest.raises(AssertionError, match=r"Deployment .*readinessProbe"):
        check.check_schemas(docs, "test")


@needs_helm
def test_probes_off_the_grpc_port_or_a_short_grace_fail(chart: dict[tuple[str, str], dict[str, Any]]) -> None:
    docs = copy.deepcopy(chart)
    deployment(docs)["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpc"]["port"] = 8080
    with pytest.raises(AssertionError):
        check.check_gateway(docs, "test")
    docs = copy.deepcopy(chart)
    deployment(docs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 300
    with pytest.raises(AssertionError, match="leaves no margin"):
        check.check_gateway(docs, "test")


@needs_helm
def test_plain_manifests_that_drift_from_the_chart_fail(chart: dict[tuple[str, str], dict[str, Any]]) -> None:
    plain = check.plain_manifests()
    check.check_same_as_chart(plain, chart)
    drifted = copy.deepcopy(plain)
    configmap = check.only(drifted, "ConfigMap")
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    config["server"]["grace_s"] = 30
    configmap["data"]["config.yaml"] = yaml.safe_dump(config)
    with pytest.raises(AssertionError, match="config"):
        check.check_same_as_chart(drifted, chart)


@needs_helm
def test_an_invalid_config_in_the_values_fails(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump({"config": {"models": [{"name": "m", "deployments": [{"provider": "none"}]}]}})
    )
    docs = check.render(HELM, values)
    with pytest.raises(AssertionError, match="the config is invalid"):
        check.check_gateway(docs, "test")


@needs_helm
def test_values_turn_on_redis_autoscaling_and_listeners_off(tmp_path: Path) -> None:
    docs = check.render(HELM, check.CI_VALUES)
    spec = deployment(docs)["spec"]
    assert "replicas" not in spec, "the HPA owns the replica count"
    (container,) = spec["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--http-listen") + 1] == ""
    assert args[args.index("--metrics-listen") + 1] == "[::]:9100"
    assert [port["name"] for port in container["ports"]] == ["grpc", "metrics"]
    config = check.gateway_config(docs)
    # The values' own store settings stay; the chart adds the Redis backend and its URL variable.
    assert config["store"] == {
        "backend": "redis",
        "redis_url": "${LLMGW_REDIS_URL}",
        "fail_open": False,
        "concurrency_lease_s": 15,
    }
    secret = check.only(docs, "Secret")["stringData"]
    assert secret["LLMGW_REDIS_URL"].startswith("redis://") and "EXTRA_TOKEN" in secret
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["LLMGW_POSTGRES_URL"]["valueFrom"]["secretKeyRef"]["name"] == "llmgateway-postgres"
    hpa = check.only(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu" and hpa["maxReplicas"] == 6
    assert check.only(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    # drain 2.5 s rounds up: preStop 5 + 3 + grace 60 + margin 20.
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 88


@needs_helm
def test_the_ledger_gets_a_writable_place_and_its_schema(tmp_path: Path) -> None:
    # By default (as kubernetes/): PostgreSQL from the providers Secret, migrated by an init container.
    docs = check.render(HELM)
    pod = deployment(docs)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert check.gateway_config(docs)["ledger"] == {
        "url": "${LLMGW_POSTGRES_URL}",
        "spool_dir": "/var/lib/llmgateway/spool",
    }
    (schema,) = pod["initContainers"]
    assert schema["name"] == "ledger-schema" and schema["args"][:2] == ["db", "upgrade"]
    assert schema["envFrom"] == container["envFrom"] and "env" not in container, (
        "the providers Secret already exports LLMGW_POSTGRES_URL"
    )
    assert {"name": "ledger-spool", "mountPath": "/var/lib/llmgateway"} in container["volumeMounts"]
    assert {"name": "ledger-spool", "emptyDir": {}} in pod["volumes"]
    # Without PostgreSQL: SQLite on the ledger volume, migrated at the gateway's start.
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"postgres": {"existingSecret": ""}}))
    docs = check.render(HELM, values)
    check.check_schemas(docs, "sqlite")
    check.check_gateway(docs, "sqlite")
    pod = deployment(docs)["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert check.gateway_config(docs)["ledger"] == {
        "url": "sqlite:////var/lib/llmgateway/llmgateway.db",
        "spool_dir": "/var/lib/llmgateway/spool",
    }
    # config.ledger wins over the chart's choices; the ledger volume can be any volume source.
    values.write_text(
        yaml.safe_dump(
            {
                "config": {**check.gateway_config(check.render(HELM)), "ledger": {"enabled": False}},
                "ledger": {"volume": {"persistentVolumeClaim": {"claimName": "spool"}}},
            }
        )
    )
    docs = check.render(HELM, values)
    pod = deployment(docs)["spec"]["template"]["spec"]
    assert "initContainers" not in pod and check.gateway_config(docs)["ledger"]["enabled"] is False
    assert {"name": "ledger-spool", "persistentVolumeClaim": {"claimName": "spool"}} in pod["volumes"]


@needs_helm
def test_a_server_ledger_without_its_schema_step_or_volume_fails(
    chart: dict[tuple[str, str], dict[str, Any]],
) -> None:
    docs = copy.deepcopy(chart)
    del deployment(docs)["spec"]["template"]["spec"]["initContainers"]
    with pytest.raises(AssertionError, match="no ledger-schema init container"):
        check.check_gateway(docs, "test")
    docs = copy.deepcopy(chart)
    (container,) = deployment(docs)["spec"]["template"]["spec"]["containers"]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "ledger-spool"]
    with pytest.raises(AssertionError, match="on no writable volume"):
        check.check_gateway(docs, "test")
