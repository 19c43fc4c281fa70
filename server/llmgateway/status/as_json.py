"""/status.json: the page's figures for scripts, with the derived ones (error rate, budget used)
spelled out so a reader need not recompute them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from llmgateway.status.figures import StatusFigures


def status_json(figures: StatusFigures) -> bytes:
    document: dict[str, Any] = dataclasses.asdict(figures)
    for shown, deployment in zip(document["deployments"], figures.deployments, strict=True):
        shown["error_rate"] = deployment.error_rate
    for shown, tenant in zip(document["tenants"], figures.tenants, strict=True):
        shown["total_nano_usd"] = tenant.total_nano_usd
    for shown, key in zip(document["keys"], figures.keys, strict=True):
        shown["budget_used"] = key.budget_used
    return json.dumps(document, indent=1).encode()
