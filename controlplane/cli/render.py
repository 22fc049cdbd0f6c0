"""Output of the operator commands: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click


def emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; ``-`` for empty cells."""
    cells = [[("-" if c is None or c == "" else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return "\n".join(lines)


def short_hash(value: object) -> str:
    text = str(value or "")
    return text.removeprefix("sha256:")[:12]


def when(value: object) -> str:
    """An ISO timestamp shortened to minutes, in UTC."""
    if not isinstance(value, str):
        return ""
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


Row = Callable[[dict[str, Any]], Sequence[object]]

DEPLOYMENT_COLUMNS = ("id", "action", "version", "from", "when", "author", "message")


def deployment_row(d: dict[str, Any]) -> Sequence[object]:
    source = d.get("source_stage")
    frm = d.get("previous_version")
    return (d["id"], d["action"] + (f" from {source}" if source else ""), d["version"],
            frm, when(d.get("created_at")), d.get("author"), d.get("message"))
