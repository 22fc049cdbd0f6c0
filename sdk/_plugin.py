"""The base class a plugin author subclasses, and what ``Describe`` derives from it.

A plugin declares ``name`` and ``version``, the bytes of body it wants to see
(``request_body``/``response_body``, default none), optionally a :class:`CacheKey`, and
overrides the hooks it implements. The phases it advertises are the hooks it overrides; its
config type is the parameter of ``Plugin[Config]`` (a pydantic model or a dataclass; no
parameter: any JSON object).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from edgeway.sdk._config import ConfigModel
from edgeway.sdk._response import Response
from edgeway.sdk._views import LogEntry, Request, ResponseView
from edgeway.v1 import plugin_pb2

__all__ = ["CacheKey", "Plugin", "config_model_of", "describe", "phases_of"]

C = TypeVar("C")

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Plugin names follow the config's rule for names (letters, digits, '.', '_', '-')."""
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CacheKey:
    """How the edge keys its cache of this plugin's ``on_request`` verdicts (with the endpoint's
    ``cache_ttl_ms``): two requests that agree on these parts (and on the plugin instance's
    config) get the same verdict without a call. Allow and deny verdicts are both cached."""

    headers: Sequence[str] = ()
    query: Sequence[str] = ()
    consumer: bool = False
    route: bool = False
    client_address: bool = False

    def _message(self) -> plugin_pb2.CacheKeySpec:
        return plugin_pb2.CacheKeySpec(
            headers=[h.lower() for h in self.headers], query=list(self.query),
            consumer=self.consumer, route=self.route, client_address=self.client_address,
        )  # fmt: skip


class Plugin(Generic[C]):
    """Subclass with ``name``, ``version`` and the hooks you need; ``serve(MyPlugin(), addr)``.

    Hooks receive the typed config of the plugin instance (one per route or global policy
    entry); treat it as read-only, it is shared between calls.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    request_body: ClassVar[int] = 0
    """Bytes of the request body the edge sends to ``on_request`` (0: none)."""
    response_body: ClassVar[int] = 0
    """Bytes of the response body the edge sends to ``on_response`` (0: none)."""
    cache_key: ClassVar[CacheKey | None] = None
    """Set to let the edge cache ``on_request`` verdicts (see :class:`CacheKey`)."""
    config_model: ClassVar[Any] = None
    """The config type; derived from ``Plugin[Config]`` when not set."""

    async def on_request(self, request: Request, config: C) -> Response | None:
        """Before the upstream: mutate ``request`` and return ``None``, or answer directly."""
        return None

    async def on_response(self, response: ResponseView, config: C) -> None:
        """After the upstream answered: mutate ``response``."""

    async def on_log(self, entries: Sequence[LogEntry], config: C) -> None:
        """Finished exchanges, in batches, off the request path."""

    async def startup(self) -> None:
        """Called once before serving (open connections here)."""

    async def shutdown(self) -> None:
        """Called once after serving stopped (close them here)."""


def config_model_of(cls: type[Plugin[Any]]) -> Any:
    """The config type of a plugin class: ``config_model``, else the ``Plugin[X]`` argument
    of the nearest class that gives one, else ``dict[str, Any]``."""
    if cls.config_model is not None:
        return cls.config_model
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Plugin):
                args = get_args(base)
                if args and not isinstance(args[0], TypeVar):
                    return args[0]
    return dict[str, Any]


def phases_of(plugin: Plugin[Any]) -> list[plugin_pb2.Phase.ValueType]:
    """The phases a plugin implements: the hooks its class overrides."""
    cls = type(plugin)
    phases: list[plugin_pb2.Phase.ValueType] = []
    if cls.on_request is not Plugin.on_request:
        phases.append(plugin_pb2.PHASE_REQUEST)
    if cls.on_response is not Plugin.on_response:
        phases.append(plugin_pb2.PHASE_RESPONSE)
    if cls.on_log is not Plugin.on_log:
        phases.append(plugin_pb2.PHASE_LOG)
    return phases


def _body(limit: int, what: str) -> plugin_pb2.BodyAccess:
    if not isinstance(limit, int) or not 0 <= limit <= MAX_BODY_BYTES:
        raise TypeError(f"{what} must be a number of bytes between 0 and {MAX_BODY_BYTES}")
    return plugin_pb2.BodyAccess(wanted=limit > 0, max_bytes=limit)


def describe(plugin: Plugin[Any], config: ConfigModel[Any]) -> plugin_pb2.PluginDescription:
    """The plugin's ``Describe`` answer; ``TypeError`` when a declaration is missing or bad
    (a plugin without a name, version or hooks is refused before it serves)."""
    cls = type(plugin)
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise TypeError(f"{cls.__name__}.name must be letters, digits, '.', '_' or '-' "
                        f"(at most 128), got {name!r}")
    version = getattr(cls, "version", None)
    if not isinstance(version, str) or not version:
        raise TypeError(f"{cls.__name__}.version must be a non-empty string, got {version!r}")
    phases = phases_of(plugin)
    if not phases:
        raise TypeError(f"{cls.__name__} implements no hook (on_request, on_response, on_log)")
    description = plugin_pb2.PluginDescription(
        name=name, version=version, phases=phases,
        request_body=_body(cls.request_body, f"{cls.__name__}.request_body"),
        response_body=_body(cls.response_body, f"{cls.__name__}.response_body"),
        config_schema=config.schema_json,
    )  # fmt: skip
    if cls.cache_key is not None:
        if plugin_pb2.PHASE_REQUEST not in phases:
            raise TypeError(f"{cls.__name__}.cache_key needs an on_request hook")
        description.cache_key.CopyFrom(cls.cache_key._message())
    return description
