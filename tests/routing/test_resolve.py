"""Resolution and rules (routing/resolve.py) without a server: names, aliases and globs, what a
rule makes of a call, and the fallback chain."""

from __future__ import annotations

import grpc
import pytest

from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider
from llmgateway.routing.rules import Caller
from tests.routing.fakes import FakeProvider, config, request, route_table

PROVIDERS: dict[str, Provider] = {name: FakeProvider(name) for name in ("pa", "pb")}
MODELS = [
    {
        "name": "m",
        "aliases": ["em"],
        "deployments": [{"provider": "pa", "model": "a1"}, {"provider": "pb", "model": "b1"}],
        "fallbacks": ["backup", "other"],
    },
    {"name": "backup", "deployments": [{"provider": "pb", "model": "b2"}], "fallbacks": ["m"]},
    {"name": "other", "deployments": [{"provider": "pa", "model": "a2"}], "fallbacks": ["backup"]},
    {"name": "gpt-*", "deployments": [{"provider": "pa", "model": "{model}"}]},
]


def test_names_and_aliases_win_over_globs_and_the_rest_is_not_found() -> None:
    table = route_table(
        config([*MODELS, {"name": "m*", "deployments": [{"provider": "pb", "model": "x"}]}], ["pa", "pb"]),
        PROVIDERS,
    )
    assert table.resolve("m").name == "m"
    assert table.resolve("em").name == "m", "an alias is its model"
    assert table.resolve("gpt-4o").name == "gpt-*"
    assert table.resolve("mx").name == "m*"
    with pytest.raises(GatewayError) as unknown:
        table.resolve("claude-x")
    assert (unknown.value.code, unknown.value.reason) == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")


def test_the_chain_is_the_model_then_its_fallbacks_each_once() -> None:
    table = route_table(config(MODELS, ["pa", "pb"]), PROVIDERS)
    assert [r.name for r in table.chain(table.resolve("m"))] == ["m", "backup", "other"]
    assert [r.name for r in table.chain(table.resolve("backup"))] == ["backup", "m"]


def test_without_a_matching_rule_the_requested_model_serves() -> None:
    rules = [{"name": "tenant-a", "match": {"tenant": "a"}, "action": {"model": "backup"}}]
    table = route_table(config(MODELS, ["pa", "pb"], rules=rules), PROVIDERS)
    route, rule = table.decide(request(), "m", 10, Caller(tenant="b"))
    assert (route.name, rule) == ("m", None)
    route, rule = table.decide(request(), "m", 10, Caller(tenant="a"))
    assert route.name == "backup"
    assert rule is not None and rule.name == "tenant-a"


def test_a_rejecting_rule_refuses_the_call() -> None:
    rules = [{"name": "no-big", "match": {"min_prompt_tokens": 100}, "action": {"reject": "too big"}}]
    table = route_table(config(MODELS, ["pa", "pb"], rules=rules), PROVIDERS)
    table.decide(request(), "m", 99, Caller())
    with pytest.raises(GatewayError) as refused:
        table.decide(request(), "m", 100, Caller())
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROUTE_REJECTED")
    assert refused.value.metadata["rule"] == "no-big"


def test_a_rule_with_deployments_routes_to_the_same_upstreams_as_their_model() -> None:
    """Its route is made of those deployments' own upstreams (one breaker, one bulkhead each), not
    copies that would learn nothing from the model's calls."""
    rules = [{"name": "pb-only", "match": {"labels": {"team": "x"}}, "action": {"deployments": ["pb/b1"]}}]
    table = route_table(config(MODELS, ["pa", "pb"], rules=rules), PROVIDERS)
    labelled = request(labels={"team": "x"})
    route, _ = table.decide(labelled, "m", 10, Caller())
    assert [u.id for u in route.upstreams] == ["pb/b1"]
    assert route.upstreams[0] is table.resolve("m").upstreams[1]
    assert table.cache_scope(labelled, Caller()) == "rule:pb-only"
    assert table.cache_scope(request(model="m"), Caller()) == "model:m"


def test_a_rule_with_another_strategy_keeps_its_balancer_between_calls() -> None:
    rules = [{"name": "spread", "match": {"model": "m"}, "action": {"strategy": "round_robin"}}]
    table = route_table(config(MODELS, ["pa", "pb"], rules=rules), PROVIDERS)
    first, _ = table.decide(request(), "m", 10, Caller())
    again, _ = table.decide(request(), "m", 10, Caller())
    assert first is again and first.balancer.strategy == "round_robin"
    assert first.upstreams is table.resolve("m").upstreams
    assert table.resolve("m").balancer.strategy == "weighted", "the model's own route is unchanged"
