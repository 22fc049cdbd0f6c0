"""The response side of a route's policy chain: response hooks and the policies' headers.

Only a request with a :class:`~.view.PolicyView` comes here, when the upstream's response head
is parsed (:meth:`ResponseHooks.hold_response`); everything else relays as before.

- No response hook (the chain's, with the consumer's merged): the policies' response headers
  are merged into the upstream's head (a *set* header replaces the upstream's) and the response
  streams on.
- Response hooks and a body to buffer (``buffer_response_body``; a ``Content-Length`` within it,
  or none): the head and body are held until the body is complete, the hooks run with
  ``Response.body`` set, and the response leaves with a ``Content-Length`` (a hook may have
  replaced the body). A body that grows past the limit is not buffered further: the hooks run
  with ``body=None`` and what was held streams out, then the rest.
- Response hooks without buffering: they run at the head with ``body=None``; if one is async,
  the upstream is not read meanwhile and what already came is held.

While the head is held nothing reached the client, so an upstream failure is still answered
(or retried) like one before any response byte; a held response whose upstream finished (or
whose body ends with the connection) is complete, whatever the connection does next.
A hook that raises is a 500 ``internal_error``, except :class:`ReplaceResponse`: its answer
replaces the upstream's (a fail-closed plugin's 503). A hook may change the status
(:meth:`UpstreamResponse.set_status`). Response hooks do not run for local answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Mapping
from typing import Final

import structlog

from edgeway.edge.policies.base import LocalResponse
from edgeway.edge.policies.chain import run_response
from edgeway.edge.proxy.attempts import AttemptExchange
from edgeway.edge.proxy.errors import EdgeError
from edgeway.edge.proxy.local import header_line
from edgeway.edge.proxy.request import lower_name

__all__ = ["ReplaceResponse", "ResponseHooks", "UpstreamResponse"]

log = structlog.get_logger(__name__)

_NO_BODY: Final = frozenset({204, 304})


class ReplaceResponse(Exception):
    """Raised by a response hook: answer the client with ``response`` instead."""

    def __init__(self, response: LocalResponse, reason: str) -> None:
        super().__init__(reason)
        self.response = response


class UpstreamResponse:
    """The upstream's response as response hooks see it (the policy ``Response``)."""


    def __init__(self, status: int, items: list[tuple[str, str]], body: bytes | None) -> None:
        self.status = status
        self.items = items
        self.body = body
        self._joined: dict[str, str] | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        if self._joined is None:
            joined: dict[str, str] = {}
            for name, value in self.items:
                joined[name] = joined[name] + "," + value if name in joined else value
            self._joined = joined
        return self._joined

    def header_items(self) -> list[tuple[str, str]]:
        return list(self.items)

    def set_header(self, name: str, value: str) -> None:
        name = name.lower()
        self.items = [item for item in self.items if item[0] != name]
        self.items.append((name, value))
        self._joined = None

    def remove_header(self, name: str) -> None:
        name = name.lower()
        self.items = [item for item in self.items if item[0] != name]
        self._joined = None

    def set_body(self, body: bytes) -> None:
        if self.body is None:
            raise RuntimeError("set_body() needs a buffered body (buffer_response_body)")
        self.body = bytes(body)

    def set_status(self, status: int) -> None:
        """Answer the client with ``status`` (200-599) instead of the upstream's."""
        if not 200 <= status <= 599:
            raise ValueError(f"cannot answer with status {status}")
        self.status = status


def _items(lines: list[bytes]) -> list[tuple[str, str]]:
    """The upstream's header pairs from the relayed pieces (status slot, then name, ": ",
    value, CRLF per header)."""
    return [(lines[i].decode("latin-1").lower(), lines[i + 2].decode("latin-1"))
            for i in range(1, len(lines), 4)]  # fmt: skip


class ResponseHooks(AttemptExchange):
    """Holding, hooking and merging the upstream's response; see the module docstring."""

    lines: list[bytes] | None = None
    """The response head for the client, built as the upstream's headers are parsed."""
    resp_length: bytes | None = None
    resp_chunked = False
    response: UpstreamResponse | None = None
    held: list[bytes] | None = None
    """Body bytes received while the head waits (``None``: not holding)."""
    held_size = 0
    hold_limit = 0
    """Buffering the body up to this size (0: holding only while async hooks run)."""
    held_done = False
    """The upstream's response is complete (``held_keep_alive``: may its connection serve
    another request)."""
    held_keep_alive = False
    close_ends = False
    """The held body has no framing: the upstream's close ends it."""
    clash = False
    """The upstream sent a header that a policy set (it gives way to the policy's, see
    :meth:`merge`)."""

    # -- implemented by forward.ProxyExchange -------------------------------------------------

    def emit_head(self, lines: list[bytes]) -> None:
        raise NotImplementedError

    def relay_body(self, body: bytes) -> None:
        raise NotImplementedError

    def end_message(self, keep_alive: bool) -> None:
        raise NotImplementedError

    # -- at the upstream's head -----------------------------------------------------------

    def hold_response(self, status: int, lines: list[bytes]) -> list[bytes] | None:
        """Called with the upstream's head: the head to send now, or ``None`` when it waits
        (or the exchange was answered)."""
        view, plan = self.view, self.plan
        assert view is not None
        assert plan is not None
        chain = plan.chain
        assert chain is not None
        consumer = view.consumer
        if consumer is not None and consumer.policies:
            chain = chain.for_consumer(consumer)
        if not chain.response or status == 101:
            if view.answering:
                self.merge(lines)
            return lines
        head = self.head
        bodyless = head.method == "HEAD" or status in _NO_BODY
        length = self.resp_length
        self.response = UpstreamResponse(status, _items(lines), None)
        self.close_ends = not bodyless and length is None and not self.resp_chunked
        limit = chain.buffer_response_body
        if limit and not bodyless and (length is None or int(length) <= limit):
            self.hold_limit = limit
            self.held = []
            return None
        self.held_done = head.method == "HEAD"  # no body and no end will come
        done = self.start_hooks()
        return self.final_lines() if done else None

    def merge(self, lines: list[bytes]) -> None:
        """Put the policies' response headers into ``lines`` (the upstream's head)."""
        view = self.view
        assert view is not None
        if self.clash:  # found while the upstream's headers were parsed
            self._drop(lines, view.replaced)
        view.add_response_lines(lines)

    @staticmethod
    def _drop(lines: list[bytes], replaced: Collection[str]) -> None:
        kept = lines[:1]
        for index in range(1, len(lines), 4):
            if lower_name(lines[index]) not in replaced:
                kept += lines[index : index + 4]
        lines[:] = kept

    def start_hooks(self) -> bool:
        """Run the response hooks: ``True`` when they are done, ``False`` when they went
        async (the head waits for them) or failed (the exchange was answered)."""
        response, plan, view = self.response, self.plan, self.view
        assert response is not None
        assert plan is not None
        assert plan.chain is not None
        assert view is not None
        try:
            pending = run_response(plan.chain, view, response)
        except Exception as exc:
            self.hook_failed(exc)
            return False
        if pending is None:
            return True
        if self.held is None:
            self.held = []
        up = self.up
        if up is not None:
            up.set_reading(True)
        view.task = self.rt.spawn(self._after_hooks(pending, response))
        return False

    async def _after_hooks(self, pending: Awaitable[None], response: UpstreamResponse) -> None:
        try:
            await pending
        except Exception as exc:
            if not self.done and self.response is response:
                self.hook_failed(exc)
                self.flush()
            return
        view = self.view
        if view is not None:
            view.task = None
        if self.done or self.response is not response:
            return
        self.release()
        self.flush()

    def final_lines(self) -> list[bytes]:
        """The head after the hooks: their headers, then the policies' response headers."""
        response, view = self.response, self.view
        assert response is not None
        assert view is not None
        if response.status != self.status:
            self.status, self.reason = response.status, b""
        replaced = view.replaced
        lines = [b""]
        lines += [header_line(name, value) for name, value in response.items
                  if name not in replaced]  # fmt: skip
        view.add_response_lines(lines)
        return lines

    def release(self) -> None:
        """The hooks are done: send the head, what was held, and the end if it came."""
        response = self.response
        assert response is not None
        held, self.held = self.held or [], None
        lines = self.final_lines()
        if self.hold_limit and self.held_done and response.body is not None:
            body = response.body
            self.resp_length, self.resp_chunked = b"%d" % len(body), False
            self.emit_head(lines)
            if body:
                self.out.append(body)
            self.end_message(self.held_keep_alive)
            return
        self.emit_head(lines)
        if self.done:
            return
        for chunk in held:
            self.relay_body(chunk)
        if self.held_done:
            self.end_message(self.held_keep_alive)
        elif self.up is not None:
            self.up.set_reading(self.conn.write_paused)

    # -- while holding: the upstream's body and end ---------------------------------------

    def hold_body(self, body: bytes) -> None:
        held = self.held
        assert held is not None
        held.append(body)
        self.held_size += len(body)
        if self.hold_limit and self.held_size > self.hold_limit:
            self.hold_limit = 0  # too large: the hooks see body=None, the rest streams
            if self.start_hooks():
                self.release()

    def hold_end(self, keep_alive: bool) -> None:
        """The upstream's response is complete while the head is held."""
        self.held_done, self.held_keep_alive = True, keep_alive
        response = self.response
        if self.hold_limit and response is not None and response.body is None:
            held = self.held or []
            response.body = held[0] if len(held) == 1 else b"".join(held)
            if self.start_hooks():
                self.release()

    def held_upstream_closed(self) -> bool:
        """The upstream closed while the head is held: ``True`` when that ends the response
        (it was complete, or its body is delimited by the close)."""
        if self.held_done:
            self.held_keep_alive = False
            return True
        if self.close_ends:
            self.hold_end(False)
            return True
        return False

    def hook_failed(self, exc: Exception) -> None:
        if isinstance(exc, ReplaceResponse):
            self.held = None
            self.drop_upstream()
            self.answer(exc.response)  # as a request hook's answer would be
            return
        route = self.plan.id if self.plan is not None else "?"
        log.error("response policy failed", route=route, error=repr(exc), exc_info=exc)
        self.held = None
        self.drop_upstream()
        self.fail(EdgeError(f"a response policy of route {route!r} failed"))

    def reset_attempt(self) -> None:
        super().reset_attempt()
        if self.response is not None:  # a held response of a failed attempt: forgotten
            self.response = None
            self.held = None
            self.held_size = self.hold_limit = 0
            self.held_done = self.held_keep_alive = self.close_ends = False
