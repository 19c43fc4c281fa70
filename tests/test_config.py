"""Config parsing, interpolation, validation and the check-config command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmgateway import config as config_module
from llmgateway.cli import main
from llmgateway.config import ConfigError, load_config, parse_config
from llmgateway.config.defaults import default_config

VALID = """
server: {listen: "127.0.0.1:50051", metrics_listen: "127.0.0.1:9464"}
providers:
  - name: openai-main
    type: openai
    base_url: https://api.openai.com
    api_key: ${OPENAI_API_KEY}
    headers: {OpenAI-Organization: "${ORG:-org-default}"}
models:
  - name: gpt-4o-mini
    aliases: [mini]
    deployments:
      - {provider: openai-main, model: gpt-4o-mini}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_env_interpolation(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), env={"OPENAI_API_KEY": "sk-a: b #c"})
    provider = config.providers[0]
    assert provider.api_key is not None
    assert provider.api_key.get_secret_value() == "sk-a: b #c"  # YAML syntax in a secret stays text
    assert provider.headers == {"OpenAI-Organization": "org-default"}
    assert "sk-a" not in repr(config)  # secrets never show in reprs or logs of the config


def test_dollar_escape() -> None:
    config = parse_config(
        {"providers": [{"name": "e", "type": "echo", "headers": {"x": "$${HOME}"}}]}, env={}
    )
    assert config.providers[0].headers == {"x": "${HOME}"}


def test_missing_env_var_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"providers\[0\]\.api_key: environment variable OPENAI_API_KEY is not set"
    ):
        load_config(write(tmp_path, VALID), env={})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"providers": [{"name": "x", "type": "nope"}]}, r"providers\[0\]\.type"),
        ({"providers": [{"name": "x", "type": "echo", "colour": 1}]}, r"providers\[0\]\.colour: Extra inputs"),
        ({"server": {"listen": "no-port"}}, r"server\.listen: .*not HOST:PORT"),
        ({"providers": [{"name": "x", "type": "openai", "base_url": "ftp://x"}]}, r"providers\[0\]\.base_url"),
        (
            {"providers": [{"name": "x", "type": "echo"}], "models": [{"name": "m", "deployments": [{"provider": "y", "model": "z"}]}]},
            r"models\[0\]\.deployments\[0\]\.provider: no provider named 'y'",
        ),
        ({"providers": [{"name": "x", "type": "echo"}, {"name": "x", "type": "echo"}]}, "duplicate name"),
        ({"models": [{"name": "m", "deployments": []}]}, r"models\[0\]\.deployments"),
        ({"server": {"tls": {"cert_file": "a", "key_file": "b", "require_client_cert": True}}}, "client_ca_file"),
        ({"server": {"metrics_listen": None, "status_page": {"enabled": True}}}, r"server: status_page\.enabled needs metrics_listen"),
    ],
)  # fmt: skip
def test_bad_fields_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(data, env={})


def test_default_config_serves_echo_and_adds_providers_from_env() -> None:
    bare = default_config(env={})
    assert [m.name for m in bare.models] == ["echo"]
    with_openai = default_config(env={"OPENAI_API_KEY": "sk-x"})
    assert {p.type for p in with_openai.providers} == {"echo", "openai"}
    assert "gpt-4o-mini" in {m.name for m in with_openai.models}


def test_check_config_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert main(["check-config", str(write(tmp_path, VALID))]) == 0
    assert "OK (1 providers, 1 models)" in capsys.readouterr().out


def test_check_config_rejects_and_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("type: openai", "type: opena1"))
    result = subprocess.run(
        [sys.executable, "-m", "llmgateway", "check-config", str(path)],
        capture_output=True,
        text=True,
        env={"OPENAI_API_KEY": "sk-test", "PATH": ""},
        check=False,
        timeout=30,
    )
    assert result.returncode == 1
    assert "providers[0].type" in result.stderr


def test_check_config_reports_bad_yaml_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(write(tmp_path, "server: [unclosed"))]) == 1
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    "broken",
    [
        "    api_key: sk-live-0123456789abcdefghijklmnopqrstuv: stray colon\n",
        '    api_key: "sk-live-0123456789abcdefghijklmnopqrstuv\n',  # a quote never closed
        "    headers: {x-api-key: sk-live-0123456789abcdefghijklmnopqrstuv: x}\n",
    ],
)
def test_a_yaml_error_on_a_secret_line_does_not_print_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    """PyYAML quotes the offending line: on an `api_key:` line that printed most of the key into
    check-config's output and the reload's ERROR log. The position and the problem stay."""
    text = "providers:\n  - name: p\n    type: openai\n" + broken + "models: []\n"
    assert main(["check-config", str(write(tmp_path, text))]) == 1
    error = capsys.readouterr().err
    assert "not valid YAML" in error and "line 4" in error and "line not shown" in error
    assert "0123456789abcdef" not in error


def test_an_empty_config_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for text in ("", "\n# only a comment\n", "{}\n"):
        assert main(["check-config", str(write(tmp_path, text))]) == 1
        assert "the file is empty" in capsys.readouterr().err


def test_a_type_without_its_adapter_module_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(config_module.ADAPTER_MODULES, "ollama", "no_such_module")
    with pytest.raises(ConfigError, match=r"providers\[0\]: .*'ollama' has no adapter in this build"):
        parse_config({"providers": [{"name": "x", "type": "ollama"}]}, env={})


def test_default_config_detects_every_provider_from_its_environment() -> None:
    env = {
        "OPENAI_API_KEY": "sk-o",
        "AZURE_OPENAI_API_KEY": "az",
        "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENTS": "gpt-4o-mini, prod-4o",
        "ANTHROPIC_API_KEY": "sk-ant",
        "GOOGLE_API_KEY": "g",
        "AWS_PROFILE": "dev",
        "AWS_REGION": "eu-west-1",
        "TOGETHER_API_KEY": "t",
        "OLLAMA_HOST": "127.0.0.1:11434",
        "VLLM_BASE_URL": "http://127.0.0.1:8000",
        "VLLM_MODELS": "qwen",
    }
    config = default_config(env=env)
    by_name = {p.name: p for p in config.providers}
    assert set(by_name) == {
        "echo",
        "openai",
        "azure-openai",
        "anthropic",
        "gemini",
        "bedrock",
        "together",
        "ollama",
        "vllm",
    }
    assert by_name["ollama"].base_url == "http://127.0.0.1:11434"
    assert (by_name["bedrock"].region, by_name["bedrock"].aws_profile) == ("eu-west-1", "dev")
    gemini_key = by_name["gemini"].api_key
    assert gemini_key is not None and gemini_key.get_secret_value() == "g"
    models = {m.name: [d.provider for d in m.deployments] for m in config.models}
    assert models["gpt-4o-mini"] == ["openai", "azure-openai"], "one model, a deployment per provider"
    assert models["prod-4o"] == ["azure-openai"]
    assert models["qwen"] == ["vllm"]
    assert "claude-sonnet-4-5" in models and "gemini-2.5-flash" in models and "llama3.2" in models


def test_azure_needs_an_endpoint_and_a_credential() -> None:
    with pytest.raises(ConfigError, match=r"providers\[0\]: .*azure_openai needs base_url"):
        parse_config({"providers": [{"name": "az", "type": "azure_openai", "api_key": "k"}]}, env={})
    with pytest.raises(ConfigError, match="azure_openai needs api_key or bearer_token"):
        parse_config({"providers": [{"name": "az", "type": "azure_openai", "base_url": "https://x"}]}, env={})
