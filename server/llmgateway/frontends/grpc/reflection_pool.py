"""The descriptor pool server reflection answers from, with method names as symbols.

The reflection protocol lets a client ask for the file containing `<package>.<Service>.<Method>`,
and ghz (and other jhump/protoreflect clients) ask exactly that. grpcio-reflection passes the name
to protobuf's pool, whose upb implementation resolves messages, enums, services and fields but
not methods ("Symbol not found: llmgateway.v1.ChatService.Chat"). This wrapper answers a method
name with its service's file; everything else is the default pool's own answer.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor, descriptor_pool


class MethodSymbolPool:
    """Delegates to a descriptor pool; FindFileContainingSymbol also resolves service methods."""

    def __init__(self, pool: descriptor_pool.DescriptorPool | None = None) -> None:
        self._pool = pool or descriptor_pool.Default()

    def FindFileContainingSymbol(self, symbol: str) -> descriptor.FileDescriptor:  # noqa: N802 (the pool's API)
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service_name, _, method = symbol.rpartition(".")
            try:
                service = self._pool.FindServiceByName(service_name)
            except KeyError:
                raise KeyError(symbol) from None
            if method not in service.methods_by_name:
                raise KeyError(symbol) from None
            return service.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)
