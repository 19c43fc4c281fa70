"""Who served a call, as the response headers every front door sends tell it (`x-llmgateway-*`)."""

from __future__ import annotations

from dataclasses import dataclass

from llmgateway.cache.responses import CONTROL_HEADER


@dataclass(frozen=True, slots=True)
class Served:
    """The provider that answered, and how: `cache` is hit, miss, bypass or off; a cache hit has
    no deployment or model and 0 attempts; `fallback_from` is the requested model when a fallback
    model served the call."""

    provider: str
    attempts: int
    cache: str
    deployment: str = ""
    model: str = ""
    fallback_from: str = ""

    def headers(self) -> tuple[tuple[str, str], ...]:
        if self.cache == "hit":
            return (
                (CONTROL_HEADER, "hit"),
                ("x-llmgateway-provider", self.provider),
                ("x-llmgateway-attempts", "0"),
            )
        headers = [
            ("x-llmgateway-provider", self.provider),
            ("x-llmgateway-deployment", self.deployment),
            ("x-llmgateway-model", self.model),
            ("x-llmgateway-attempts", str(self.attempts)),
        ]
        if self.fallback_from:
            headers.append(("x-llmgateway-fallback", f"{self.fallback_from}->{self.model}"))
        headers.append((CONTROL_HEADER, self.cache))
        return tuple(headers)
