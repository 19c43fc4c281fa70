"""`GET /v1/models` and `GET /v1/models/{id}` from the core's model list (the one ModelService
serves): every configured model and alias a caller can put in `model`. The providers' own
listings (ListModelsResponse.upstream_models) are not callable by those names and are left out."""

from __future__ import annotations

from typing import Any

from llmgateway.v1 import models_pb2

OWNER = "llmgateway"


def _entry(name: str) -> dict[str, Any]:
    # The gateway does not know when a model was made: 0 rather than an invented date.
    return {"id": name, "object": "model", "created": 0, "owned_by": OWNER}


def model_list(listed: models_pb2.ListModelsResponse) -> dict[str, Any]:
    names = sorted({name for model in listed.models for name in (model.name, *model.aliases)})
    return {"object": "list", "data": [_entry(name) for name in names]}


def one_model(listed: models_pb2.ListModelsResponse, name: str) -> dict[str, Any] | None:
    """The model called `name` (a configured name or alias), or None."""
    if any(name == model.name or name in model.aliases for model in listed.models):
        return _entry(name)
    return None
