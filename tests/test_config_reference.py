"""The generated configuration reference (docs/configuration.md, docs/config.schema.json) is
current, covers every field, and the JSON Schema accepts the configs the gateway accepts and
refuses what it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from llmgateway.config import ConfigError, GatewayConfig, parse_config
from llmgateway.config.reference import render, sections

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("relative", sorted(render()))
def test_the_generated_reference_is_current(relative: str) -> None:
    assert (ROOT / relative).read_text() == render()[relative], "run `make config-reference` and commit"


def test_every_field_is_in_the_reference_with_a_description() -> None:
    page = render()["docs/configuration.md"]
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    undocumented = [row for row in rows if row.rstrip().endswith("|  |") or row.rstrip().endswith("| |")]
    assert undocumented == []
    expected = sum(len(section.model.model_fields) for section in sections())
    assert len(rows) == expected


def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "docs/config.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def test_the_json_schema_accepts_the_documented_sample_and_the_built_in_defaults() -> None:
    validator = _schema_validator()
    validator.validate(GatewayConfig().model_dump(mode="json"))
    sample: dict[str, Any] = {
        "server": {"listen": "127.0.0.1:50051", "http_listen": None},
        "providers": [{"name": "oa", "type": "openai", "api_key": "${OPENAI_API_KEY}"}],
        "models": [{"name": "m", "deployments": [{"provider": "oa", "model": "gpt-4o-mini"}]}],
        "routing": {"retry": {"max_retries": 1}},
    }
    validator.validate(sample)
    parse_config(sample, env={"OPENAI_API_KEY": "k"})


@pytest.mark.parametrize(
    "bad",
    [
        {"server": {"listen": "127.0.0.1:50051", "liste": "typo"}},  # an unknown key
        {"providers": [{"name": "p", "type": "no-such-type"}]},
        {"routing": {"retry": {"max_retries": -1}}},
        {"cache": {"enabled": "sometimes"}},
    ],
)
def test_the_json_schema_refuses_what_the_gateway_refuses(bad: dict[str, Any]) -> None:
    assert list(_schema_validator().iter_errors(bad)), yaml.safe_dump(bad)
    with pytest.raises(ConfigError):
        parse_config(bad, env={})
