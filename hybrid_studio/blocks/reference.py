"""The block reference (docs/blocks.md), generated from the catalog so it never drifts from the code.

Regenerate with ``python -m hybrid_studio.blocks.reference > docs/blocks.md``; a test checks it is current.
"""

from __future__ import annotations

import json

from . import CATALOG, CATEGORIES


def _default(p) -> str:
    return "-" if p.default is None else f"`{json.dumps(p.default)}`"


def _allowed(p) -> str:
    if p.kind == "choice":
        return ", ".join("null" if c is None else f"`{c}`" for c in p.choices)
    if p.kind in ("int", "float"):
        lo = "" if p.min is None else f">= {p.min:g}"
        hi = "" if p.max is None else f"<= {p.max:g}"
        rng = " and ".join(x for x in (lo, hi) if x)
        return f"{p.kind}" + (f", {rng}" if rng else "") + (", or null" if p.nullable else "")
    return {"bool": "true / false", "int_or_pair": "int" + (f" or `{p.list_form}`" if p.pair else ""),
            "padding": "int" + (f" or `{p.list_form}`" if p.pair else "") + ', `"same"`, `"valid"`',
            "shape": "list of sizes (null = unknown)", "axes": "axis letters T C H W L F"}.get(p.kind, p.kind)


def markdown() -> str:
    out = ["# Block reference", "", "Generated from the block catalog (`python -m hybrid_studio.blocks.reference`).",
           "Params use PyTorch's names; a project file only lists the ones that differ from the default.",
           "Every block exports to Python (`export --format python`) and to ONNX (`export --format onnx`, opset 18, "
           "batch and unknown sizes dynamic); a block that exports to ONNX in a way worth knowing says how under "
           "\"ONNX export\".", ""]
    groups = CATALOG.by_category()
    for cat in CATEGORIES + tuple(c for c in groups if c not in CATEGORIES):
        blocks = groups.get(cat) or []
        if not blocks:
            continue
        out += [f"## {cat}", ""]
        for b in blocks:
            out += [f"### {b.type_name}", "", b.help, ""]
            ports_in = b.inputs(b.defaults())
            out.append(f"Inputs: {', '.join(f'`{x}`' for x in ports_in) or 'none'}; outputs: "
                       f"{', '.join(f'`{x}`' for x in b.outputs(b.defaults())) or 'none'}; ids: `{b.id_prefix}1`, "
                       f"`{b.id_prefix}2`, ...")
            out.append("")
            if b.onnx:
                out += [f"ONNX export: {b.onnx}", ""]
            if b.params:
                out += ["| param | default | allowed | meaning |", "|---|---|---|---|"]
                for p in b.params:
                    out.append(f"| `{p.name}` | {_default(p)} | {_allowed(p)} | {p.help} |")
                out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
