"""Pagination of the list calls: a page size within bounds, and an opaque token that names where
the next page starts (the last id shown, base64: callers must not build tokens themselves)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from llmgateway.errors import FieldViolation, invalid_argument

Item = TypeVar("Item")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def _token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


@dataclass(frozen=True)
class Page:
    size: int
    after: str  # items after this one ("" from the start)

    @classmethod
    def of(cls, page_size: int, page_token: str) -> Page:
        if page_size < 0:
            raise invalid_argument([FieldViolation("page_size", "must not be negative")])
        try:
            after = base64.b64decode(page_token, altchars=b"-_", validate=True).decode() if page_token else ""
        except (binascii.Error, UnicodeError, ValueError):
            raise invalid_argument([FieldViolation("page_token", "not a token this gateway gave")]) from None
        return cls(min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE), after)

    def cut(self, items: Sequence[Item], position: Callable[[Item], str]) -> tuple[list[Item], str]:
        """The page's items (from items sorted by position, all after `after`) and the next token."""
        shown = list(items[: self.size])
        more = len(items) > self.size
        return shown, _token(position(shown[-1])) if more and shown else ""
