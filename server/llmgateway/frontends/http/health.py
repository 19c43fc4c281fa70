"""Liveness and readiness over HTTP, for load balancers and probes that do not speak gRPC: the same
answers as the gRPC health service (readiness follows breakers and health probes, and turns off
when a shutdown begins)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

LIVE_PATH, READY_PATH = "/health/live", "/health/ready"
HEALTH_PATHS = (LIVE_PATH, READY_PATH)


def health_routes(ready: Callable[[], bool]) -> list[web.RouteDef]:
    async def live(request: web.Request) -> web.Response:
        return web.json_response({"status": "SERVING"})

    async def readiness(request: web.Request) -> web.Response:
        if ready():
            return web.json_response({"status": "SERVING"})
        return web.json_response({"status": "NOT_SERVING"}, status=503)

    return [web.get(LIVE_PATH, live), web.get(READY_PATH, readiness)]
