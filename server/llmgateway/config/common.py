"""What every part of the configuration shares: strict models (unknown keys are errors, so a typo
cannot fall back to a default), durations, names, addresses, and the error a bad config raises."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Seconds = Annotated[float, Field(gt=0)]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the bad field."""


def validation_message(error: ValidationError, within: str = "") -> str:
    """pydantic's errors as one line per bad field, each named by its path (`within` first)."""
    lines = []
    for item in error.errors():
        location = within
        for part in item["loc"]:
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{location or 'config'}: {message}")
    return "\n".join(lines)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def split_host_port(address: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:port`) → (host, port); raises ValueError when malformed."""
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([^\s:\[\]]+):(\d+)", address)
    if not match:
        raise ValueError(f"{address!r} is not HOST:PORT")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError(f"port {port} is out of range")
    return host, port
