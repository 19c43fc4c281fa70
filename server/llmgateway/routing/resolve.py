"""From the name a caller asked for to the model route that serves it: exact names and aliases,
then globs, then the routing rules (which may reject the call, or send it to another model, to a
list of deployments, or through another strategy); and each route's chain of fallback models."""

from __future__ import annotations

import datetime
import fnmatch
import random
from collections.abc import Callable
from dataclasses import dataclass

from llmgateway.config import ModelSettings, RuleSettings, Strategy
from llmgateway.errors import GatewayError, model_not_found
from llmgateway.reasons import Reason
from llmgateway.routing import estimate
from llmgateway.routing.kinds import RoutedRequest
from llmgateway.routing.rules import Caller, RoutingFacts, RuleSet
from llmgateway.routing.strategies import Balancer
from llmgateway.routing.upstream import Upstream


@dataclass
class ModelRoute:
    """A configured model with its deployments' upstreams and its balancer."""

    settings: ModelSettings
    upstreams: list[Upstream]
    balancer: Balancer

    @property
    def name(self) -> str:
        return self.settings.name


class RouteTable:
    """Every configured model route, and what the rules make of a call."""

    def __init__(
        self,
        routes: list[ModelRoute],
        rules: list[RuleSettings],
        *,
        rng: random.Random,
        wall_clock: Callable[[], datetime.datetime],
    ) -> None:
        self.routes = routes
        self._rules = RuleSet(rules)
        self._rng = rng
        self._wall_clock = wall_clock
        self._by_name = {
            name: route
            for route in routes
            if not route.settings.is_glob
            for name in [route.name, *route.settings.aliases]
        }
        self._globs = [route for route in routes if route.settings.is_glob]
        # Routes the rules make: a rule's own list of deployments (built now), or a model with
        # another strategy (built on first use). Each keeps its balancer's state between calls.
        self._variants: dict[tuple[str, str], ModelRoute] = {}
        by_id = {u.id: (route, u) for route in routes for u in route.upstreams}
        for rule in rules:
            if rule.action.deployments:
                owner = by_id[rule.action.deployments[0]][0]
                upstreams = [by_id[deployment_id][1] for deployment_id in rule.action.deployments]
                settings = owner.settings.model_copy(
                    update={
                        "deployments": [u.settings for u in upstreams],
                        "strategy": rule.action.strategy or owner.settings.strategy,
                    }
                )
                self._variants[("rule", rule.name)] = ModelRoute(
                    settings, upstreams, Balancer(settings.strategy, rng)
                )

    def resolve(self, name: str) -> ModelRoute:
        """The route for a model name, alias or glob match; NOT_FOUND when none."""
        route = self._by_name.get(name)
        if route is not None:
            return route
        for route in self._globs:
            if fnmatch.fnmatchcase(name, route.name):
                return route
        raise model_not_found(name)

    def decide(
        self, request: RoutedRequest, requested: str, prompt_tokens: int, caller: Caller
    ) -> tuple[ModelRoute, RuleSettings | None]:
        """The route after the rules, and the rule that decided it (None: no rule matched).
        Raises for an unknown model or a rule that rejects the call."""
        facts = RoutingFacts(
            model=requested,
            prompt_tokens=prompt_tokens,
            now=self._wall_clock(),
            caller=caller,
            labels=request.labels,
        )
        rule = self._rules.first_match(facts)
        if rule is None:
            return self.resolve(requested), None
        action = rule.action
        if action.reject is not None:
            raise GatewayError(
                Reason.ROUTE_REJECTED,
                f"rejected by routing rule {rule.name!r}: {action.reject}",
                metadata={"rule": rule.name},
            )
        if action.deployments:
            return self._variants[("rule", rule.name)], rule
        route = self.resolve(action.model or requested)
        if action.strategy is None or action.strategy == route.settings.strategy:
            return route, rule
        return self._with_strategy(route, action.strategy), rule

    def _with_strategy(self, route: ModelRoute, strategy: Strategy) -> ModelRoute:
        key = (route.name, strategy)
        if key not in self._variants:
            self._variants[key] = ModelRoute(route.settings, route.upstreams, Balancer(strategy, self._rng))
        return self._variants[key]

    def cache_scope(self, request: RoutedRequest, caller: Caller) -> str:
        """What routing decides for a call, as the response cache must know it: the model route
        that would serve it, or the rule whose deployments would. Two calls that differ only in
        what the rules see (labels, key, time) may go to different models: their answers must not
        be shared. Raises as routing would (unknown model, a rule that rejects the call)."""
        route, rule = self.decide(request, request.model, estimate.input_tokens(request), caller)
        return f"rule:{rule.name}" if rule is not None and rule.action.deployments else f"model:{route.name}"

    def chain(self, route: ModelRoute) -> list[ModelRoute]:
        """The route, then its fallback models, each once."""
        chain = [route]
        for fallback in route.settings.fallbacks:
            candidate = self._by_name[fallback]
            if candidate not in chain:
                chain.append(candidate)
        return chain
