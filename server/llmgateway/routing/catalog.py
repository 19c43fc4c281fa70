"""Model names and aliases → the configured model and its deployments."""

from __future__ import annotations

from llmgateway.config import ModelSettings
from llmgateway.errors import model_not_found
from llmgateway.v1 import models_pb2


class ModelCatalog:
    """Looks up the model a caller asked for, by name or alias."""

    def __init__(self, models: list[ModelSettings]) -> None:
        self._models = sorted(models, key=lambda m: m.name)
        self._by_name = {name: model for model in models for name in [model.name, *model.aliases]}

    def resolve(self, name: str) -> ModelSettings:
        """The model called `name`; NOT_FOUND with ResourceInfo when there is none."""
        model = self._by_name.get(name)
        if model is None:
            raise model_not_found(name)
        return model

    def describe(self) -> list[models_pb2.Model]:
        """Every model as the ListModels API shows it, sorted by name."""
        return [
            models_pb2.Model(
                name=model.name,
                aliases=model.aliases,
                providers=sorted({d.provider for d in model.deployments}),
            )
            for model in self._models
        ]
