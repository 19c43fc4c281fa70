"""The routing rules engine: matching, first match wins, actions through real gRPC, and validation
at load that names the rule."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.config import ConfigError, RuleMatch, TimeWindow, parse_config
from llmgateway.routing.rules import Caller, RoutingFacts, in_window, matches
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import rich_status

UTC = datetime.UTC


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """2026-11-23 is a Monday; day 0 = Monday."""
    return datetime.datetime(2026, 11, 23 + day, hour, minute, tzinfo=UTC)


def test_time_windows() -> None:
    office = TimeWindow(start="09:00", end="17:00", days=["mon", "tue", "wed", "thu", "fri"])
    assert in_window(office, at(0, 9))
    assert not in_window(office, at(0, 17))
    assert not in_window(office, at(5, 10)), "Saturday"
    night = TimeWindow(start="22:00", end="06:00", days=["fri"])
    assert in_window(night, at(4, 23)), "Friday night"
    assert in_window(night, at(5, 5)), "early Saturday belongs to Friday's window"
    assert not in_window(night, at(5, 23))
    tokyo = TimeWindow(start="09:00", end="10:00", timezone="Asia/Tokyo")
    assert in_window(tokyo, at(0, 0, 30)), "09:30 in Tokyo"


def test_match_conditions() -> None:
    facts = RoutingFacts(
        model="gpt-4o",
        prompt_tokens=5000,
        now=at(0, 12),
        caller=Caller(tenant="acme", key_id="k-123"),
        labels={"team": "search-ranking"},
    )
    assert matches(RuleMatch(), facts)
    assert matches(RuleMatch(model="gpt-*", tenant="acme", key="k-*", labels={"team": "search-*"}), facts)
    assert not matches(RuleMatch(labels={"team": "ads"}), facts)
    assert not matches(RuleMatch(labels={"missing": "*"}), facts)
    assert matches(RuleMatch(min_prompt_tokens=4000, max_prompt_tokens=6000), facts)
    assert not matches(RuleMatch(min_prompt_tokens=6000), facts)
    assert not matches(RuleMatch(tenant="acme"), RoutingFacts(model="m", prompt_tokens=0, now=at(0, 1)))


BASE: dict[str, Any] = {
    "providers": [{"name": "e1", "type": "echo"}, {"name": "e2", "type": "echo"}],
    "models": [
        {"name": "small", "deployments": [{"provider": "e1", "model": "small-1"}]},
        {
            "name": "big",
            "deployments": [
                {"provider": "e2", "model": "big-1"},
                {"provider": "e1", "model": "big-2", "weight": 3},
            ],
        },
    ],
}


def with_rules(*rules: dict[str, Any]) -> dict[str, Any]:
    return {**BASE, "routing": {"rules": list(rules)}}


async def served_by(client: Client, model: str, text: str = "hi", **fields: Any) -> str:
    call = client.chat.Chat(chat_request(model, user(text), **fields), timeout=5)
    await call
    return str(dict(await call.trailing_metadata() or ())["x-llmgateway-deployment"])


async def test_rules_route_by_label_size_and_reject(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = with_rules(
        {
            "name": "block-legacy",
            "match": {"labels": {"app": "legacy-*"}},
            "action": {"reject": "legacy apps are retired"},
        },
        {
            "name": "pin-batch",
            "match": {"labels": {"tier": "batch"}},
            "action": {"deployments": ["e1/big-2"]},
        },
        {
            "name": "long-to-big",
            "match": {"model": "small", "min_prompt_tokens": 50},
            "action": {"model": "big"},
        },
        {"name": "shadowed", "match": {"labels": {"tier": "batch"}}, "action": {"reject": "never reached"}},
    )
    client = connect(await start_gateway(config))
    assert await served_by(client, "small") == "e1/small-1"
    assert await served_by(client, "small", text="word " * 100) in {"e2/big-1", "e1/big-2"}
    for _ in range(3):
        assert await served_by(client, "big", labels={"tier": "batch"}) == "e1/big-2"
    with pytest.raises(grpc.aio.AioRpcError) as rejected:
        async for _ in client.chat.ChatStream(
            stream_request("small", user("hi"), labels={"app": "legacy-crm"}), timeout=5
        ):
            pass
    status = rich_status(rejected.value)
    assert (status.code, status.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROUTE_REJECTED")
    assert "legacy apps are retired" in status.message
    assert status.error_info.metadata["rule"] == "block-legacy"


async def test_rule_can_switch_the_strategy(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = with_rules(
        {"name": "rr", "match": {"labels": {"spread": "even"}}, "action": {"strategy": "round_robin"}}
    )
    client = connect(await start_gateway(config))
    weighted = [await served_by(client, "big") for _ in range(4)]
    assert weighted.count("e1/big-2") == 3, "weights 1:3 under the model's own strategy"
    even = [await served_by(client, "big", labels={"spread": "even"}) for _ in range(4)]
    assert even.count("e1/big-2") == 2


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "r1", "action": {"model": "nope"}}, r"routing\.rules\[0\] \(r1\)\.action\.model: no model named 'nope'"),
        ({"name": "r1", "action": {"deployments": ["e9/x"]}}, r"routing\.rules\[0\] \(r1\)\.action\.deployments"),
        ({"name": "r1", "match": {"min_prompt_tokens": 9, "max_prompt_tokens": 1}, "action": {"strategy": "cost"}}, r"\(r1\)\.match"),
        ({"name": "r1", "action": {"reject": "x", "model": "big"}}, "cannot also route"),
        ({"name": "r1", "action": {}}, "needs reject, model, deployments or strategy"),
        ({"name": "r1", "match": {"time": {"start": "25:00", "end": "01:00"}}, "action": {"strategy": "cost"}}, "start"),
        ({"name": "r1", "match": {"time": {"start": "01:00", "end": "02:00", "timezone": "Mars/Base"}}, "action": {"strategy": "cost"}}, "unknown time zone"),
    ],
)  # fmt: skip
def test_rules_are_validated_at_load(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(with_rules(rule), env={})


def test_rule_names_are_unique() -> None:
    rule = {"name": "same", "action": {"strategy": "cost"}}
    with pytest.raises(ConfigError, match=r"routing\.rules\[1\] \(same\): another rule has this name"):
        parse_config(with_rules(rule, rule), env={})
