"""Shared fixtures: gateways on 127.0.0.1:0 driven by the generated stubs over real gRPC."""

from __future__ import annotations

import os

# Before grpc is imported: tests fork helpers (PostgreSQL, redis-server, gateways) while gRPC's
# threads run, and gRPC's fork handlers, which it skips or runs half-way when other threads are in
# it, crashed a restarted PostgreSQL's child before exec (exit -11, nothing logged). Nothing here
# uses gRPC across a fork.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.config import GatewayConfig, parse_config
from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2, embeddings_pb2_grpc, models_pb2_grpc
from tests.upstreams.base import SimulatorServer

StartGateway = Callable[[dict[str, Any]], Awaitable[Gateway]]


def gateway_config(data: dict[str, Any]) -> GatewayConfig:
    """A config for tests: loopback, no drain wait, short grace, unless the data says otherwise."""
    server = {
        "listen": "127.0.0.1:0",
        "http_listen": None,
        "metrics_listen": None,
        "drain_s": 0,
        "grace_s": 1,
    }
    server.update(data.get("server", {}))
    # Authentication is tested on its own (test_auth.py); elsewhere it is off unless the data sets it.
    auth = data.get("auth", {"enabled": False})
    return parse_config({**data, "server": server, "auth": auth}, env={})


ECHO_CONFIG: dict[str, Any] = {
    "providers": [{"name": "echo", "type": "echo"}],
    "models": [
        {"name": "echo", "aliases": ["parrot"], "deployments": [{"provider": "echo", "model": "echo-1"}]}
    ],
}


@pytest.fixture
async def start_gateway() -> AsyncIterator[StartGateway]:
    """Start gateways from config data; each is shut down after the test."""
    started: list[Gateway] = []

    async def start(data: dict[str, Any]) -> Gateway:
        gateway = Gateway(gateway_config(data), rng=random.Random(1234))
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.shutdown()


@pytest.fixture(scope="module")
def provider_simulators() -> Iterator[dict[str, SimulatorServer]]:
    """A module's provider simulators by name, started on first use; stopped after the module."""
    started: dict[str, SimulatorServer] = {}
    yield started
    for simulator in started.values():
        simulator.stop()


class Client:
    """The generated stubs on one channel to a gateway."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.chat = chat_pb2_grpc.ChatServiceStub(channel)
        self.models = models_pb2_grpc.ModelServiceStub(channel)
        self.embeddings = embeddings_pb2_grpc.EmbeddingServiceStub(channel)


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[Gateway], Client]]:
    """Open client channels to gateways; each is closed after the test."""
    channels: list[grpc.aio.Channel] = []

    def open_client(gateway: Gateway) -> Client:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}")
        channels.append(channel)
        return Client(channel)

    yield open_client
    for channel in channels:
        await channel.close()


def user(text: str) -> content_pb2.Message:
    """A user message of one text part."""
    return content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=text)])


def reasoning(
    effort: str | None = None, budget_tokens: int | None = None, include_thoughts: bool = False
) -> chat_pb2.GenerationConfig:
    """A GenerationConfig asking for reasoning (effort by name: none, minimal, low, medium, high)."""
    config = chat_pb2.GenerationConfig()
    config.reasoning.SetInParent()
    if effort is not None:
        config.reasoning.effort = chat_pb2.ReasoningConfig.Effort.Value(f"EFFORT_{effort.upper()}")
    if budget_tokens is not None:
        config.reasoning.budget_tokens = budget_tokens
    config.reasoning.include_thoughts = include_thoughts
    return config


def chat_request(model: str, *messages: content_pb2.Message, **fields: Any) -> chat_pb2.ChatRequest:
    """A ChatRequest; keyword fields go straight to the message constructor."""
    return chat_pb2.ChatRequest(model=model, messages=list(messages), **fields)


def stream_request(model: str, *messages: content_pb2.Message, **fields: Any) -> chat_pb2.ChatStreamRequest:
    """A ChatStreamRequest; keyword fields go straight to the message constructor."""
    return chat_pb2.ChatStreamRequest(model=model, messages=list(messages), **fields)
