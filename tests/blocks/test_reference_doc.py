"""docs/blocks.md is generated from the catalog and must be current."""

from pathlib import Path

from hybrid_studio.blocks import CATALOG
from hybrid_studio.blocks.reference import markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "blocks.md"


def test_block_reference_is_current():
    assert DOC.read_text() == markdown() + "\n", "regenerate: python -m hybrid_studio.blocks.reference > docs/blocks.md"


def test_reference_lists_every_block_and_param():
    text = markdown()
    for block in CATALOG:
        assert f"### {block.type_name}" in text
        for p in block.params:
            assert f"| `{p.name}` |" in text
