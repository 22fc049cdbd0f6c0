"""Error types shared by the control plane and the edge.

A :class:`ConfigError` names the path of the bad field (``routes[2].upstream``) and what is
wrong with it; :class:`ConfigInvalid` carries every error found in one pass, never only the
first, so an operator fixes a config in one round.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One problem in a config: where (``path``) and what (``message``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ConfigInvalid(Exception):
    """A config failed parsing or validation; ``errors`` lists every problem found."""

    code = "invalid_config"

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        if not errors:
            raise ValueError("ConfigInvalid needs at least one error")
        self.errors: tuple[ConfigError, ...] = tuple(errors)
        super().__init__(self.summary())

    def summary(self) -> str:
        head = f"config is invalid ({len(self.errors)} error{'s' if len(self.errors) > 1 else ''})"
        return head + "".join(f"\n  - {e}" for e in self.errors)


def join_path(base: str, part: str | int) -> str:
    """Extend a field path: ``join_path("routes", 2) == "routes[2]"``, keys get a dot.

    Map keys that are not plain identifiers are quoted: ``variables["a.b"]``.
    """
    if isinstance(part, int):
        return f"{base}[{part}]"
    if part.replace("_", "a").replace("-", "a").isalnum():
        return f"{base}.{part}" if base else part
    return f'{base}["{part}"]'


def raise_if_any(errors: Iterable[ConfigError]) -> None:
    """Raise :class:`ConfigInvalid` when ``errors`` is not empty."""
    collected = list(errors)
    if collected:
        raise ConfigInvalid(collected)
