"""Every example config in deploy/examples/ and every YAML block in docs/ is valid as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgeway.controlplane.operations import prepare_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "deploy" / "examples").glob("*.yaml"))
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def doc_blocks() -> list[tuple[str, str]]:
    blocks = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for i, match in enumerate(FENCE.finditer(doc.read_text())):
            text = match.group(1)
            # A block that shows a fragment says so on its first line.
            if not text.lstrip().startswith("# fragment"):
                blocks.append((f"{doc.name}#{i}", text))
    return blocks


def test_there_are_examples_to_check() -> None:
    assert len(EXAMPLES) >= 2
    assert len(doc_blocks()) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_files_are_valid(path: Path) -> None:
    prepare_text(path.read_bytes(), source=str(path))


@pytest.mark.parametrize(("name", "text"), doc_blocks(), ids=lambda v: v if "#" in v else "")
def test_yaml_blocks_in_the_docs_are_valid(name: str, text: str) -> None:
    prepare_text(text, source=name)
