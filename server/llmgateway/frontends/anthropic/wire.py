"""Strict reading of Messages API JSON: each reader checks one value's type and names the parameter
at fault as Anthropic does (`messages.1.content.0.source.data`) when it is wrong."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from llmgateway.errors import GatewayError
from llmgateway.frontends.anthropic.errors import invalid, not_carried

JsonObject = dict[str, Any]


def at(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def json_object(path: str, value: object) -> JsonObject:
    if not isinstance(value, dict):
        raise invalid(path, "Input should be a valid dictionary")
    return value


def json_list(path: str, value: object) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(path, "Input should be a valid list")
    return value


def string(path: str, value: object, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise invalid(path, "Input should be a valid string")
    if non_empty and not value:
        raise invalid(path, "String should have at least 1 character")
    return value


def boolean(path: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise invalid(path, "Input should be a valid boolean")
    return value


def integer(path: str, value: object, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(path, "Input should be a valid integer")
    if value < minimum:
        raise invalid(path, f"Input should be greater than or equal to {minimum}")
    return value


def number(path: str, value: object, *, low: float, high: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(path, "Input should be a valid number")
    if not low <= value <= high:
        raise invalid(path, f"Input should be between {low:g} and {high:g}")
    return float(value)


def required(path: str, value: JsonObject, key: str) -> object:
    if key not in value:
        raise invalid(at(path, key), "Field required")
    return value[key]


def present(value: JsonObject, key: str) -> bool:
    """Whether `key` is set: a JSON null counts as absent, as in the Messages API."""
    return value.get(key) is not None


def only_keys(
    path: str, value: JsonObject, allowed: Collection[str], uncarried: Collection[str] = ()
) -> None:
    """Refuse keys outside `allowed`: those in `uncarried` are the API's but v1 cannot carry them
    (allowed only when null or empty, which asks for nothing), the rest are unknown."""
    for key, item in value.items():
        if key in allowed:
            continue
        if key in uncarried:
            if item is None or item == []:
                continue
            raise not_carried(at(path, key))
        raise unknown(at(path, key))


def unknown(param: str) -> GatewayError:
    return invalid(param, "Extra inputs are not permitted")
