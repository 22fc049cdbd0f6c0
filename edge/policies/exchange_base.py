"""The methods of the policy ``Exchange`` as a compiled class, so compiled handlers call them
directly.

:class:`~edgeway.edge.policies.base.Exchange` is a Protocol: a handler compiled with mypyc
calls a method through it as Python does (look the name up on the type, parse the arguments),
about 60 ns a call, and the key-auth + rate-limit pair makes six such calls per request.
Every exchange (the proxy's :class:`~edgeway.edge.proxy.view.PolicyView`, the tests' and the
benchmark's) subclasses :class:`ExchangeBase`; a compiled handler that holds one as an
``ExchangeBase`` (:func:`calls`) reaches a compiled subclass's method through its vtable, and
an interpreted subclass's method through mypyc's Python-level glue, so a test double overrides
what it likes.

Only methods are here: the ``Exchange`` properties stay on each implementation (a dataclass
test double declares them as fields, which a base class's properties would shadow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from mypy_extensions import mypyc_attr

if TYPE_CHECKING:
    from edgeway.edge.compile.model import CompiledConsumer, CompiledCredential
    from edgeway.edge.policies.base import Exchange

__all__ = ["ExchangeBase", "calls"]


@mypyc_attr(allow_interpreted_subclasses=True)
class ExchangeBase:
    """What an exchange does, as methods (their contract: ``Exchange`` in :mod:`.base`)."""

    def header(self, name: str) -> str | None:
        raise NotImplementedError

    def header_values(self, name: str) -> tuple[str, ...]:
        raise NotImplementedError

    def authenticate(
        self, consumer: CompiledConsumer | None, credential: CompiledCredential | None = None
    ) -> None:
        raise NotImplementedError

    def set_header(self, name: str, value: str) -> None:
        raise NotImplementedError

    def remove_header(self, name: str) -> None:
        raise NotImplementedError

    def change_headers(self, changes: Mapping[str, str | None]) -> None:
        """``set_header`` and ``remove_header`` for each change, in order."""
        for name, value in changes.items():
            if value is None:
                self.remove_header(name)
            else:
                self.set_header(name, value)

    def set_query_param(self, name: str, values: tuple[str, ...]) -> None:
        raise NotImplementedError

    def remove_query_param(self, name: str) -> None:
        raise NotImplementedError

    def set_body(self, body: bytes) -> None:
        raise NotImplementedError

    def set_response_header(self, name: str, value: str) -> None:
        raise NotImplementedError

    def set_response_line(self, name: str, line: bytes) -> None:
        """``set_response_header`` with the value taken out of the rendered ``line``."""
        self.set_response_header(name, line[len(name) + 2 : -2].decode("latin-1"))

    def add_response_header(self, name: str, value: str) -> None:
        raise NotImplementedError

    def at_end(self, callback: Callable[[], None]) -> None:
        raise NotImplementedError


def calls(exchange: Exchange) -> ExchangeBase:
    """``exchange`` as the compiled class it is (a ``TypeError`` if it is not one)."""
    if not isinstance(exchange, ExchangeBase):
        raise TypeError(f"{type(exchange).__name__} does not subclass ExchangeBase")
    return exchange
