"""Offline checks of deploy/: the Helm chart and the plain manifests.

- the chart passes `helm lint --strict` and renders (`helm template`) with its default values and
  with every optional part switched on (values-ci.yaml beside this file);
- every manifest, rendered or plain, is valid against the Kubernetes API schemas of the oldest and
  newest version the chart supports (kubernetes-validate ships them, so nothing is fetched), in
  strict mode: an unknown or misspelt field fails;
- in each: the probes are the gRPC health services on the gRPC port, the termination grace covers
  preStop + drain + grace, the ledger's database and spool are on a writable volume and a server
  database's schema is migrated by a `ledger-schema` init container, and the config passes
  `llmgateway check-config`;
- the plain manifests (kubernetes/) say what the chart renders with its defaults: same config,
  container, probes, ports and security settings;
- the Envoy descriptor set (if given) holds the services and their google.api.http routes.

    python deploy/check.py [--helm PATH] [deploy/envoy/llmgateway.pb]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

HERE = Path(__file__).resolve().parent
CHART = HERE / "helm" / "llmgateway"
CI_VALUES = HERE / "helm" / "values-ci.yaml"
# The range of the chart's kubeVersion (Chart.yaml) that kubernetes-validate has schemas for.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
READINESS = "llmgateway.v1.ChatService"
Docs = dict[tuple[str, str], dict[str, Any]]


def parse(text: str, source: str) -> Docs:
    found: Docs = {}
    for doc in yaml.safe_load_all(text):
        if doc is None:  # an empty document (a template that rendered nothing)
            continue
        assert isinstance(doc, dict), f"{source}: a document is not a mapping"
        kind = doc.get("kind", "EnvoyBootstrap")
        found[(kind, doc.get("metadata", {}).get("name", source))] = doc
    return found


def plain_manifests() -> Docs:
    found: Docs = {}
    for path in sorted([*HERE.glob("kubernetes/*.yaml"), HERE / "envoy" / "envoy.yaml"]):
        found |= parse(path.read_text(), path.name)
    return found


def helm(binary: str, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 (helm, on our own chart)
        [binary, *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def render(binary: str, *values: Path) -> Docs:
    args = [arg for path in values for arg in ("--values", str(path))]
    helm(binary, "lint", "--strict", str(CHART), *args)
    return parse(
        helm(binary, "template", "llmgateway", str(CHART), "--namespace", "llmgateway", *args), "chart"
    )


def check_schemas(docs: Docs, source: str) -> None:
    for (kind, name), doc in docs.items():
        if kind == "EnvoyBootstrap":
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                raise AssertionError(
                    f"{source}: {kind} {name} (Kubernetes {version}): {path}: {error.message}"
                ) from None


def only(docs: Docs, kind: str) -> dict[str, Any]:
    """The one document of `kind` that is the gateway's (kubernetes/ also holds Envoy's)."""
    (doc,) = [
        doc for (doc_kind, name), doc in docs.items() if doc_kind == kind and not name.startswith("envoy")
    ]
    return doc


def gateway_container(docs: Docs) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def gateway_config(docs: Docs) -> dict[str, Any]:
    config = yaml.safe_load(only(docs, "ConfigMap")["data"]["config.yaml"])
    assert isinstance(config, dict)
    return config


def check_gateway(docs: Docs, source: str) -> None:
    """The probes, the grace period and the config of one set of manifests."""
    config = gateway_config(docs)
    pod, container = gateway_container(docs)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    grpc_port = ports["grpc"]
    assert container["livenessProbe"]["grpc"] == {"port": grpc_port, "service": ""}, source
    assert container["startupProbe"]["grpc"] == {"port": grpc_port, "service": ""}, source
    assert container["readinessProbe"]["grpc"] == {"port": grpc_port, "service": READINESS}, source
    args = container["args"]
    assert args[args.index("--listen") + 1].endswith(f":{grpc_port}"), (
        f"{source}: --listen is not the grpc port"
    )
    for flag, name in (("--http-listen", "http"), ("--metrics-listen", "metrics")):
        listen = args[args.index(flag) + 1]
        assert listen.endswith(f":{ports[name]}") if name in ports else listen == "", f"{source}: {flag}"
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    server = config.get("server", {})
    ledger = config.get("ledger", {})
    # The ledger's last writes on shutdown happen after the grace period (docs/ledger.md).
    flush = ledger.get("flush_timeout_s", 5) if ledger.get("enabled", True) is not False else 0
    needed = pre_stop + server.get("drain_s", 5) + server.get("grace_s", 30) + flush
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > needed, f"{source}: terminationGracePeriodSeconds {grace} leaves no margin over {needed}"
    assert pod["securityContext"]["runAsNonRoot"], f"{source}: the pod may run as root"
    assert container["securityContext"]["readOnlyRootFilesystem"], f"{source}: a writable root filesystem"
    check_ledger(config, pod, container, source)
    check_config(config, args, source)


def check_ledger(config: dict[str, Any], pod: dict[str, Any], container: dict[str, Any], source: str) -> None:
    """The ledger writes to a mounted volume (the config's folder is a read-only ConfigMap), and a
    server database's schema is migrated by an init container running `db upgrade` before the gateway."""
    ledger = config.get("ledger", {})
    if ledger.get("enabled", True) is False:
        return
    url, spool = str(ledger.get("url", "")), str(ledger.get("spool_dir", ""))
    for key, value in (("url", url), ("spool_dir", spool)):
        assert value, f"{source}: ledger.{key} must be set (the default is next to the read-only config)"
    writable = [
        mount["mountPath"].rstrip("/") + "/"
        for mount in container["volumeMounts"]
        if not mount.get("readOnly") and mount["name"] != "tmp"  # tmp: the supervisor's, not the ledger's
    ]
    paths = [spool] + ([url.removeprefix("sqlite:///")] if url.startswith("sqlite:///") else [])
    for path in paths:
        assert any(path.startswith(mount) for mount in writable), f"{source}: {path} is on no writable volume"
    init = {c["name"]: c for c in pod.get("initContainers", [])}
    if url.startswith("sqlite"):
        assert "ledger-schema" not in init, f"{source}: a schema init container for SQLite"
        return
    assert "ledger-schema" in init, f"{source}: a server ledger database and no ledger-schema init container"
    schema = init["ledger-schema"]
    assert schema["args"] == ["db", "upgrade", "--config", "/etc/llmgateway/config.yaml"], source
    for key in ("image", "envFrom", "env", "securityContext"):
        assert schema.get(key) == container.get(key), f"{source}: ledger-schema's {key} is not the gateway's"
    read_only = [mount for mount in container["volumeMounts"] if mount.get("readOnly")]
    assert schema["volumeMounts"] == read_only, f"{source}: ledger-schema's mounts are not the gateway's"


def check_config(config: dict[str, Any], args: list[str], source: str) -> None:
    """`llmgateway check-config` on the config as the pod gets it, with every ${VAR} it names set."""
    with tempfile.TemporaryDirectory() as tmp:
        if config.get("auth", {}).get("keys_file"):
            keys = Path(tmp) / "keys.yaml"
            keys.write_text("[]\n")
            config["auth"]["keys_file"] = str(keys)
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            **dict.fromkeys(("OPENAI_API_KEY", "ANTHROPIC_API_KEY"), "check"),
            "LLMGW_REDIS_URL": "redis://check:6379/0",
            "LLMGW_POSTGRES_URL": "postgresql+psycopg://check:check@postgres:5432/llmgateway",
        }
        result = subprocess.run(  # noqa: S603 (our own interpreter, a file we wrote)
            [sys.executable, "-m", "llmgateway", "check-config", str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, f"{source}: the config is invalid: {result.stdout}{result.stderr}"
    assert args[:3] == ["serve", "--config", "/etc/llmgateway/config.yaml"], f"{source}: args {args}"


def check_same_as_chart(plain: Docs, chart: Docs) -> None:
    """kubernetes/ is the chart's default rendering written out by hand: the parts that matter agree."""
    plain_config, chart_config = gateway_config(plain), gateway_config(chart)
    assert plain_config == chart_config, "kubernetes/configmap.yaml and the chart's config differ"
    (plain_pod, plain_container), (chart_pod, chart_container) = (
        gateway_container(plain),
        gateway_container(chart),
    )
    for key in ("args", "ports", "startupProbe", "livenessProbe", "readinessProbe", "lifecycle", "resources"):
        assert plain_container[key] == chart_container[key], (
            f"kubernetes/deployment.yaml: {key} differs from the chart"
        )
    assert plain_container["securityContext"] == chart_container["securityContext"]
    for key in ("terminationGracePeriodSeconds", "securityContext"):
        assert plain_pod[key] == chart_pod[key], f"kubernetes/deployment.yaml: {key} differs from the chart"
    assert plain_container["image"] == chart_container["image"], (
        "kubernetes/: the image tag is not the chart's"
    )

    def init_containers(pod: dict[str, Any]) -> list[tuple[str, Any, Any, Any]]:
        return [
            (init["name"], init["args"], init["securityContext"], init["volumeMounts"])
            for init in pod.get("initContainers", [])
        ]

    assert init_containers(plain_pod) == init_containers(chart_pod), (
        "kubernetes/deployment.yaml: initContainers differ from the chart"
    )
    assert plain_container["volumeMounts"] == chart_container["volumeMounts"], (
        "kubernetes/deployment.yaml: volumeMounts differ from the chart"
    )

    def service_ports(docs: Docs) -> list[list[tuple[str, int]]]:
        services = sorted(
            (
                doc
                for (kind, _), doc in docs.items()
                if kind == "Service" and "envoy" not in doc["metadata"]["name"]
            ),
            key=lambda doc: "clusterIP" in doc["spec"],
        )
        return [[(port["name"], port["port"]) for port in doc["spec"]["ports"]] for doc in services]

    assert service_ports(plain) == service_ports(chart), (
        "kubernetes/service.yaml: ports differ from the chart"
    )


def check_descriptor(path: Path) -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file
    routes: dict[str, str] = {}
    for file in files:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb:
                    routes[f"{file.package}.{service.name}/{method.name}"] = f"{verb} {getattr(rule, verb)}"
    for method in ("ChatService/Chat", "ChatService/ChatStream", "ModelService/ListModels"):
        assert f"llmgateway.v1.{method}" in routes, f"{path}: no http rule for {method}"
    names = {file.name for file in files}
    assert "google/api/http.proto" in names, (
        f"{path}: the imports are missing (build without --exclude-imports)"
    )


def kinds(docs: Docs) -> Iterable[str]:
    return sorted({kind for kind, _ in docs})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--helm", default="helm", help="the helm binary")
    parser.add_argument("descriptors", nargs="*", type=Path, help="Envoy descriptor sets to check")
    args = parser.parse_args(argv)

    plain = plain_manifests()
    check_schemas(plain, "kubernetes/")
    check_gateway(plain, "kubernetes/")
    envoy = plain[("EnvoyBootstrap", "envoy.yaml")]
    assert envoy["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"

    default = render(args.helm)
    everything = render(args.helm, CI_VALUES)
    for name, docs in (("chart (defaults)", default), ("chart (values-ci.yaml)", everything)):
        check_schemas(docs, name)
        check_gateway(docs, name)
    check_same_as_chart(plain, default)
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret"):
        assert kind in kinds(everything), f"values-ci.yaml renders no {kind}"
    for path in args.descriptors:
        check_descriptor(path)
    print(
        f"deploy: chart lints and renders ({len(default)} documents by default, {len(everything)} with "
        f"values-ci.yaml: {', '.join(kinds(everything))}); {len(plain)} plain documents; all valid for "
        f"Kubernetes {' and '.join(KUBERNETES_VERSIONS)}; probes, grace periods and configs check out"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
