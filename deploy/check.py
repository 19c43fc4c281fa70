"""Offline checks of deploy/: every manifest parses, the probes and the termination grace agree with
the sample config, the sample config passes `llmgateway check-config`, and the Envoy descriptor set
(if built) holds the services and their google.api.http routes.

    python deploy/check.py [deploy/envoy/llmgateway.pb]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

HERE = Path(__file__).resolve().parent


def documents() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted([*HERE.glob("kubernetes/*.yaml"), HERE / "envoy" / "envoy.yaml"]):
        for doc in yaml.safe_load_all(path.read_text()):
            assert isinstance(doc, dict), f"{path}: a document is not a mapping"
            kind = doc.get("kind", "EnvoyBootstrap")
            found[(kind, doc.get("metadata", {}).get("name", path.name))] = doc
    return found


def check_gateway(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    config = yaml.safe_load(docs[("ConfigMap", "llmgateway-config")]["data"]["config.yaml"])
    pod = docs[("Deployment", "llmgateway")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["grpc"] == {"port": 50051, "service": ""}
    assert container["readinessProbe"]["grpc"] == {"port": 50051, "service": "llmgateway.v1.ChatService"}
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop + config["server"]["drain_s"] + config["server"]["grace_s"]
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > needed, f"terminationGracePeriodSeconds {grace} leaves no margin over {needed}"
    return config


def check_config(config: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.yaml"
        keys.write_text("[]\n")
        config["auth"]["keys_file"] = str(keys)
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            "OPENAI_API_KEY": "sk-check",
            "ANTHROPIC_API_KEY": "sk-check",
            "LEDGER_DATABASE_URL": "postgresql+psycopg://check:check@postgres:5432/llmgateway",
        }
        result = subprocess.run(  # noqa: S603 (our own interpreter, a file we wrote)
            [sys.executable, "-m", "llmgateway", "check-config", str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, f"the sample config is invalid: {result.stdout}{result.stderr}"


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


def main(argv: list[str]) -> int:
    docs = documents()
    check_config(check_gateway(docs))
    envoy = docs[("EnvoyBootstrap", "envoy.yaml")]
    assert envoy["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"
    for arg in argv:
        check_descriptor(Path(arg))
    print(f"deploy: {len(docs)} documents parse; probes, grace period and sample config check out")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
