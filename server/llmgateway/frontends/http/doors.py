"""The HTTP front doors' routes, all on the core: each door adds its own here."""

from __future__ import annotations

from aiohttp import web

from llmgateway.core.pipeline import Core
from llmgateway.frontends.anthropic.routes import anthropic_routes
from llmgateway.frontends.openai.routes import openai_routes


def door_routes(core: Core) -> list[web.RouteDef]:
    """Every HTTP front door's routes."""
    routes: list[web.RouteDef] = []
    routes.extend(openai_routes(core))
    routes.extend(anthropic_routes(core))
    return routes
