"""Typed reading of an OpenAI request's JSON: each accessor returns the value as the v1 side needs
it, or raises INVALID_REQUEST naming the parameter by its OpenAI path (`messages[2].content`), with
OpenAI's own wording. A JSON `null` is the same as an absent parameter, as on OpenAI's API."""

from __future__ import annotations

from typing import Any

from llmgateway.errors import FieldViolation, GatewayError
from llmgateway.reasons import Reason

JsonObject = dict[str, Any]


def refused(param: str, message: str, reason: str = "INVALID_FIELD") -> GatewayError:
    """The request is refused because of `param`: the error names it (OpenAI's `error.param`)."""
    return GatewayError(
        Reason.INVALID_REQUEST,
        message,
        field_violations=[FieldViolation(param, message, reason)],
    )


def not_supported(param: str, why: str) -> GatewayError:
    """A parameter this gateway understands but v1 cannot carry: refused, never dropped."""
    return refused(param, f"'{param}' is not supported by this gateway: {why}", "UNSUPPORTED_PARAMETER")


def _described(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def invalid_type(param: str, expected: str, value: object) -> GatewayError:
    return refused(
        param, f"Invalid type for '{param}': expected {expected}, but got {_described(value)} instead."
    )


def invalid_value(param: str, value: object, why: str) -> GatewayError:
    shown = value if isinstance(value, str) and len(value) <= 64 else _described(value)
    return refused(param, f"Invalid value for '{param}': {shown!r}. {why}", "INVALID_VALUE")


def missing(param: str) -> GatewayError:
    return refused(param, f"Missing required parameter: '{param}'.", "MISSING")


def an_object(param: str, value: object) -> JsonObject:
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    return value


def a_list(param: str, value: object) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    return value


def a_string(param: str, value: object) -> str:
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    return value


def a_bool(param: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise invalid_type(param, "a boolean", value)
    return value


def an_int(param: str, value: object) -> int:
    # JSON has one number type: 7.0 is accepted as 7, as OpenAI's API does; true is no integer.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid_type(param, "an integer", value)
    return value


def a_number(param: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid_type(param, "a decimal", value)
    return float(value)


def only_known(param: str, item: JsonObject, known: frozenset[str]) -> None:
    """Refuse the first key of `item` outside `known`, naming it (`param.key`)."""
    for key in item:
        if key not in known:
            where = f"{param}.{key}" if param else key
            raise refused(where, f"Unrecognized request argument supplied: {where}", "UNKNOWN_PARAMETER")
