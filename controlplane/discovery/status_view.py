"""The table ``edgeway status`` prints: the fleet grouped by stage and region.

Per stage, a heading with the version it runs and how many edges are in sync; per region, one
row per edge with the version it runs, its status and, when it lags the stage's version, by how
much. NACK errors follow their edge's row, one line per detail. Stages without edges are listed
too, and edges of a stage that does not exist are shown under that stage name.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

__all__ = ["render_status"]

_COLUMNS = ("node", "version", "status", "lag", "build", "replica", "last ack", "last seen")


def render_status(nodes: list[dict[str, Any]], stages: list[dict[str, Any]]) -> str:
    """``nodes`` as ``GET /v1/nodes`` returns them, ``stages`` as ``GET /v1/stages`` does."""
    by_stage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for node in nodes:
        by_stage[str(node.get("stage"))].append(node)
    known = {str(s.get("name")): s for s in stages}
    blocks = []
    for name in sorted(set(known) | set(by_stage)):
        blocks.append(_stage_block(name, known.get(name), by_stage.get(name, [])))
    if not blocks:
        return "no stages and no connected edges"
    return "\n\n".join(blocks)


def _stage_block(name: str, stage: dict[str, Any] | None, nodes: list[dict[str, Any]]) -> str:
    if stage is None:
        head = f"stage {name} (unknown stage)"
        version = None
    else:
        version = stage.get("version")
        head = f"stage {name}: " + (f"version {version}" if version is not None else "no version")
        if stage.get("hash"):
            head += f" ({_short(stage['hash'])})"
    counts = Counter(str(n.get("status")) for n in nodes)
    summary = ", ".join(f"{c} {s}" for s, c in sorted(counts.items()))
    head += f" — {len(nodes)} edge{'s' if len(nodes) != 1 else ''}"
    head += f": {summary}" if summary else ""
    lines = [head]
    by_region: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for node in nodes:
        by_region[str(node.get("region") or "-")].append(node)
    for region in sorted(by_region):
        lines.append(f"  region {region}")
        rows = sorted(by_region[region], key=lambda n: str(n.get("node_id")))
        table = _table(_COLUMNS, [_row(n, version) for n in rows])
        notes = {str(n.get("node_id")): _nack_lines(n) for n in rows}
        header, *body = table
        lines.append("    " + header)
        for node, line in zip(rows, body, strict=True):
            lines.append("    " + line)
            lines.extend("        " + note for note in notes[str(node.get("node_id"))])
    return "\n".join(lines)


def _row(node: dict[str, Any], stage_version: object) -> list[object]:
    running = node.get("version")
    lag = ""
    if isinstance(stage_version, int) and running != stage_version:
        lag = f"behind (v{running if running is not None else '-'} -> v{stage_version})"
    return [node.get("node_id"), running, node.get("status"), lag, node.get("build"),
            node.get("replica"), _when(node.get("last_ack")), _when(node.get("last_seen"))]


def _nack_lines(node: dict[str, Any]) -> list[str]:
    lines = []
    if node.get("nack"):
        version = node.get("nack_version")
        what = f"v{version}" if version is not None else _short(node.get("nack_hash"))
        first, *rest = str(node["nack"]).splitlines() or [""]
        lines.append(f"NACK {what}: {first}")
        lines.extend(f"  {line}" for line in rest)
    if node.get("error"):
        lines.append(f"error: {node['error']}")
    return lines


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [["-" if c is None or c == "" else str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return lines


def _short(value: object) -> str:
    return str(value or "").removeprefix("sha256:")[:12]


def _when(value: object) -> str:
    """``2025-01-31T12:00:00.250Z`` as ``2025-01-31 12:00:00``."""
    if not isinstance(value, str):
        return ""
    return value.replace("T", " ")[:19]
