"""Graph -> readable, standalone PyTorch source.

The same source serves two ends: written to a file it is the exported model (imports only torch); executed in a
private namespace and traced, it becomes the compiled torch.fx GraphModule (see ``fx.py``). Every value written
into the source comes from a validated param or id (``lit`` accepts plain data only), so a project file cannot put
code into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hybrid_studio.blocks import CATALOG, checker_for
from hybrid_studio.graph import Graph, ShapeChecker


class CompileError(ValueError):
    """The graph cannot be compiled; ``diagnostics`` says why, block by block."""

    def __init__(self, message: str, diagnostics=()):
        super().__init__(message)
        self.diagnostics = list(diagnostics)


@dataclass
class GeneratedModel:
    source: str
    input_ids: list
    output_ids: list
    #: 1-based source line -> block id, for lines of forward() and __init__ that belong to a block.
    line_owner: dict = field(default_factory=dict)
    #: Output id -> its task ("classification" / "regression").
    tasks: dict = field(default_factory=dict)
    #: Variable-length Input id -> the name of forward()'s argument for its lengths, in argument order (after the
    #: inputs themselves).
    length_args: dict = field(default_factory=dict)


#: Functions the generated source defines when an Input has variable lengths; torch.fx keeps calls to them as
#: single steps (they branch on run-time values). Plain torch: the exported file stays standalone.
LENGTH_HELPERS = {
    "hs_lengths": '''
def hs_lengths(x, lengths):
    """Per-sample lengths of x's time axis (dim 1): the given ones, or x's full length for every sample."""
    if lengths is None:
        return torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
    return torch.as_tensor(lengths, dtype=torch.long, device=x.device)
''',
    "hs_mask": '''
def hs_mask(x, lengths):
    """x with the time steps (dim 1) past each sample's length set to zero."""
    keep = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
    return x * keep.reshape(tuple(keep.shape) + (1,) * (x.dim() - 2)).to(x.dtype)
''',
}


def _unique(name: str, taken: set) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _docstring(text: str) -> str:
    text = "".join(c if c.isprintable() else " " for c in text)  # one line, and no NUL (a SyntaxError on import)
    return text.replace("\\", "\\\\").replace('"""', "'''")


def generate(graph: Graph, checker: ShapeChecker | None = None) -> GeneratedModel:
    """Python source defining ``class Model(nn.Module)`` for a valid graph; raises CompileError otherwise."""
    checker = checker or checker_for(graph)
    checker.flush()
    errors = checker.errors()
    if errors:
        lines = "\n".join(f"  - {d}" for d in errors)
        raise CompileError(f"the graph has {len(errors)} problem(s):\n{lines}", errors)

    order = graph.topological_order()
    inputs = [n.id for n in graph.nodes if n.type == "Input"]
    outputs = [n.id for n in graph.nodes if n.type == "Output"]
    init: list[tuple[str, str | None]] = []
    body: list[tuple[str, str | None]] = []
    #: Helper class name -> its source, for modules PyTorch does not have (see ModuleSpec.helper).
    helpers: dict[str, str] = {}
    total = 0
    # per-sample lengths (variable-length Inputs): node id -> the variable holding its output's lengths
    taken = {n.id for n in graph.nodes} | {"self", "torch", "nn", "F", *LENGTH_HELPERS}
    length_args: dict[str, str] = {}
    lens: dict[str, str] = {}
    for nid in inputs:
        if checker.result(nid).output.lengths:
            length_args[nid] = lens[nid] = _unique(f"{nid}_lengths", taken)
    for nid in order:
        node = graph.node(nid)
        block = CATALOG.get(node.type)
        res = checker.result(nid)
        p = block.resolve(node.params)[0]
        ports = block.inputs(p)
        ins = [res.inputs[port] for port in ports]
        xs = [graph.edge_into(nid, port).source for port in ports]
        spec = block.module(p, ins, res.output)
        total += res.params or 0
        if spec is not None and spec.helper:
            helpers.setdefault(spec.cls, spec.helper)
        if spec is not None:
            note = f"  # {res.params:,} parameters" if res.params else ""
            init.append((f"self.{nid} = {spec.source()}{note}", nid))
        if node.type == "Input":
            continue
        arrow = " + ".join(s.describe() for s in ins)
        body.append((f"# {nid} ({node.type}): {arrow} -> {res.output.describe()}", nid))
        src = next((x for x, s in zip(xs, ins) if s.lengths), None)
        if src is None:
            lines = block.forward(p, ins, res.output, f"self.{nid}", xs, nid)
        else:
            step = block.steps(p, ins, res.output)
            if step.mask:  # the block reads neighbouring steps: zeros past each length, as for the sample alone
                body.append((f"{nid} = hs_mask({xs[0]}, {lens[src]})", nid))
                xs = [nid]
            lines = block.forward_steps(p, ins, res.output, f"self.{nid}", xs, nid, lens[src])
            if res.output.lengths:
                if step.keeps:
                    lens[nid] = lens[src]
                else:
                    lens[nid] = _unique(f"{nid}_lengths", taken)
                    lines = [*lines, f"{lens[nid]} = {step.source(lens[src])}"]
        for line in lines:
            body.append((line, nid))

    title = _docstring(graph.name)
    returns = "one tensor per output, as a tuple" if len(outputs) > 1 else "the output tensor"
    out_lines = [
        f'"""{title}: a model exported by Hybrid Studio.',
        "",
        "Standalone: it needs only PyTorch. Model() takes no arguments; forward() takes one tensor per input",
        f"({', '.join(inputs)}) and returns {returns} ({', '.join(outputs)}).",
        *([f"Variable-length inputs also take their per-sample lengths ({', '.join(length_args.values())}: int (N,); "
           "default: full length); each sample's result is then the same alone as in a padded batch."]
          if length_args else []),
        f"Parameters: {total:,}.",
        '"""',
        "",
        "import torch",
        "import torch.nn as nn",
        "import torch.nn.functional as F",
        "",
        "",
    ]
    if length_args:
        for helper in LENGTH_HELPERS.values():
            out_lines += helper.strip("\n").splitlines() + ["", ""]
    for helper in helpers.values():
        out_lines += helper.strip("\n").splitlines() + ["", ""]
    out_lines += [
        "class Model(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
    ]
    owner: dict[int, str] = {}
    for text, nid in init:
        out_lines.append("        " + text)
        owner[len(out_lines)] = nid
    if not init:
        out_lines.append("        pass")
    out_lines.append("")
    args = [*inputs, *(f"{a}=None" for a in length_args.values())]
    out_lines.append(f"    def forward(self, {', '.join(args)}):")
    for nid in inputs:
        out_lines.append(f"        # {nid}: {checker.result(nid).output.describe()}")
        if nid in length_args:
            out_lines.append(f"        {length_args[nid]} = hs_lengths({nid}, {length_args[nid]})")
    for text, nid in body:
        out_lines.append("        " + text)
        owner[len(out_lines)] = nid
    ret = ", ".join(outputs) if outputs else "None"
    out_lines.append(f"        return {ret}")
    out_lines.append("")
    tasks = {o: CATALOG.get("Output").resolve(graph.node(o).params)[0]["task"] for o in outputs}
    return GeneratedModel("\n".join(out_lines), inputs, outputs, owner, tasks, length_args)
