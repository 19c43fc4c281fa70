"""An answer read whole: what adapters parse, or map to an error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip("\"' ")
    return "utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer read whole: what adapters parse, or map to an error."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text, by its charset (UTF-8 when none is named); undecodable bytes replaced."""
        try:
            return self.body.decode(_charset(self.headers.get("content-type", "")), "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")
