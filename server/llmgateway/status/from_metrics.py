"""Live figures from the metrics registry that /metrics is scraped from (with several workers, the
multi-process collector over every worker's files), so the page and a scrape agree."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

_OK = "OK"


@dataclass
class LiveFigures:
    """Breaker state and attempts per deployment id, calls in flight per method."""

    breaker_state: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    failed_attempts: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)


def read_live_figures(registry: CollectorRegistry) -> LiveFigures:
    """One pass over the registry's samples (collect() takes the registry's lock; prometheus-client
    makes it safe from the server's threads)."""
    figures = LiveFigures()
    for family in registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "llmgateway_breaker_state":
                figures.breaker_state[labels["deployment"]] = int(sample.value)
            elif sample.name == "llmgateway_upstream_attempts_total":
                deployment = labels["deployment"]
                count = int(sample.value)
                figures.attempts[deployment] = figures.attempts.get(deployment, 0) + count
                if labels["outcome"] != _OK:
                    figures.failed_attempts[deployment] = figures.failed_attempts.get(deployment, 0) + count
            elif sample.name == "llmgateway_in_flight":
                method = labels["method"]
                figures.in_flight[method] = figures.in_flight.get(method, 0) + int(sample.value)
    return figures
