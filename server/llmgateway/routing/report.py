"""What the caller learns about how its call was routed (the response's x-llmgateway-* metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmgateway.routing.deployments import Deployment


@dataclass
class Attempt:
    """One try of one deployment."""

    deployment: str
    outcome: str  # "OK" or the error reason


@dataclass
class RouteReport:
    """How a call was served: every attempt, and the deployment and model that answered."""

    requested_model: str
    attempts: list[Attempt] = field(default_factory=list)
    deployment: Deployment | None = None
    served_model: str = ""

    @property
    def fallback(self) -> bool:
        return bool(self.served_model) and self.served_model != self.requested_model
