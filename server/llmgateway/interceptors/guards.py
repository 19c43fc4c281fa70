"""Checks a call passes before its handler runs — authentication, admission by limits and budgets,
load shedding, open breakers — run by one interceptor.

Each check used to be an interceptor of its own, and each interceptor wraps the handler in one more
coroutine and, for a stream, one more async generator that every message passes through. Run from
one wrapper they cost one layer in all, in the same order and with the same undo on the way out.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import Any, Protocol

from llmgateway.interceptors.handlers import (
    Context,
    Handler,
    StreamBehavior,
    UnaryBehavior,
    WrappingInterceptor,
    rewrap,
)

Entered = list[tuple["Guard", object]]


class Guard(Protocol):
    """One check. `enter` refuses the call by raising a GatewayError, or lets it in; what it returns,
    unless None, is handed to `leave` when the call has ended, however it ended."""

    def applies_to(self, method: str) -> bool: ...

    async def enter(self, request: Any, context: Context) -> object | None: ...

    async def leave(self, entered: object) -> None: ...


async def _leave(entered: Entered) -> None:
    """Undo in reverse order; every guard gets its `leave` even if an earlier one fails."""
    failure: BaseException | None = None
    for guard, token in reversed(entered):
        try:
            await guard.leave(token)
        except BaseException as error:  # re-raised below, after the others ran
            failure = failure or error
    if failure is not None:
        raise failure


async def _enter(guards: Sequence[Guard], request: Any, context: Context) -> Entered:
    entered: Entered = []
    try:
        for guard in guards:
            token = await guard.enter(request, context)
            if token is not None:
                entered.append((guard, token))
    except BaseException:
        await _leave(entered)  # a later guard refused: give back what the earlier ones took
        raise
    return entered


def _guard_unary(guards: Sequence[Guard]) -> Callable[[UnaryBehavior], UnaryBehavior]:
    def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
        async def unary(request: Any, context: Context) -> Any:
            entered = await _enter(guards, request, context)
            try:
                return await behavior(request, context)
            finally:
                if entered:
                    await _leave(entered)

        return unary

    return wrap


def _guard_stream(guards: Sequence[Guard]) -> Callable[[StreamBehavior], StreamBehavior]:
    def wrap(behavior: StreamBehavior) -> StreamBehavior:
        async def stream(request: Any, context: Context) -> AsyncGenerator[Any, None]:
            entered = await _enter(guards, request, context)
            try:
                async with aclosing(behavior(request, context)) as messages:
                    async for message in messages:
                        yield message
            finally:
                if entered:
                    await _leave(entered)

        return stream

    return wrap


class GuardInterceptor(WrappingInterceptor):
    """Runs, for each call, the guards that apply to its method, in the order given."""

    def __init__(self, guards: Sequence[Guard]) -> None:
        self._guards = tuple(guards)
        super().__init__(self._rewrap)

    def _rewrap(self, method: str, handler: Handler) -> Handler:
        guards = tuple(guard for guard in self._guards if guard.applies_to(method))
        if not guards:
            return handler
        return rewrap(handler, unary=_guard_unary(guards), stream=_guard_stream(guards))
