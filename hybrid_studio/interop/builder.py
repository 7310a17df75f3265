"""Building a studio graph while converting: unique ids, wires, the incremental shape check and axis bookkeeping.

A converted tensor (``KT``) remembers two orders of the same axis letters: ``studio`` (the order of the studio
tensor) and ``keras`` (the source's order; for ONNX, the same as studio). Keras keeps images channels-last
(H, W, C) while the studio keeps them channels-first (C, H, W): layers that only care about the channel axis work on
either, and where the order matters (Flatten, Reshape, Dense on an image) ``conform`` inserts a ``Permute`` so the
studio computes on the source's order, and the outputs agree element for element.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from hybrid_studio.blocks import CATALOG, new_graph
from hybrid_studio.graph import Edge, Node
from hybrid_studio.graph.model import RESERVED_IDS

from .result import PLACEHOLDER, ReportEntry, Unsupported

#: The standard axis letters of a source tensor of each rank (source order) and the studio's order of them.
STD = {1: "F", 2: "TF", 3: "HWC", 4: "THWC"}
CANON = {"F": "F", "TF": "TF", "HWC": "CHW", "THWC": "TCHW", "T": "T"}


@dataclass(frozen=True)
class KT:
    """A source tensor as it exists in the studio graph."""

    node: str
    studio: str
    keras: str
    shape: tuple  # per-sample sizes in the source's order (None: unknown)
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.keras)

    def size(self, letter: str):
        return self.shape[self.keras.index(letter)]

    def studio_shape(self) -> list:
        return [self.size(a) for a in self.studio]


def clean_id(name: str) -> str:
    """A source name as a valid block id (a Python identifier that the exported model does not already use)."""
    s = re.sub(r"\W", "_", str(name)) or "layer"
    if s[0].isdigit():
        s = "l_" + s
    if s.startswith("__"):
        s = "l" + s.lstrip("_")
    if keyword.iskeyword(s) or s in RESERVED_IDS:
        s += "_"
    return s


class Builder:
    """Accumulates nodes, wires and weights; one instance per import."""

    def __init__(self, name: str, source_file: str):
        self.graph = new_graph(clean_id(name) if name else "imported")
        self.graph.name = str(name or "imported")
        self._specs: dict = {}  # block id -> its output TensorSpec (None when it has none)
        self.weights: dict = {}
        self.entries: list[ReportEntry] = []
        self.source_file = source_file
        self._created: list[str] = []

    # ---- ids and nodes -------------------------------------------------------------------------------------------
    def uid(self, hint: str) -> str:
        base = clean_id(hint)
        nid, k = base, 1
        while nid in self.graph:
            k += 1
            nid = f"{base}_{k}"
        return nid

    def add(self, type_name: str, params: dict, ins: list, hint: str) -> str:
        """Add a block fed by ``ins`` (KTs, in port order) and return its id."""
        nid = self.uid(hint)
        self.graph.insert_node(Node(nid, type_name, dict(params)))
        if type_name in CATALOG:
            ports = CATALOG.input_ports(type_name, params) or []
        else:
            ports = ["in"] if len(ins) == 1 else [f"in{i}" for i in range(len(ins))]
        for port, t in zip(ports, ins):
            self.graph.insert_edge(Edge(t.node, nid, "out", port), check=False)
        self._created.append(nid)
        return nid

    def out(self, nid: str, studio: str, keras: str, fallback=None, dtype="float32") -> KT:
        """The KT of block ``nid``'s output, sized by the studio's shape check (or ``fallback`` when it cannot)."""
        spec = self.spec(nid)
        if spec is not None and len(spec.shape) == len(studio):
            by_letter = dict(zip(studio, spec.shape))
            shape = tuple(by_letter[a] for a in keras)
            dtype = spec.dtype
        else:
            shape = tuple(fallback) if fallback is not None and len(fallback) == len(keras) else (None,) * len(keras)
        return KT(nid, studio, keras, shape, dtype)

    def spec(self, nid: str):
        """The output spec of block ``nid``, by its own shape rule on its inputs' specs (each block once, so a
        1,000-layer import stays linear; the full checker runs once the graph is built)."""
        if nid in self._specs:
            return self._specs[nid]
        node = self.graph.node(nid)
        spec = None
        if node.type in CATALOG:
            ins = []
            for port in CATALOG.input_ports(node.type, node.params) or []:
                edge = self.graph.edge_into(nid, port)
                ins.append(None if edge is None else self.spec(edge.source))
            if all(x is not None for x in ins):
                try:
                    spec = CATALOG.evaluate(node, ins)[0]
                except Exception:  # noqa: BLE001 - a refused shape: the checker reports it on the graph
                    spec = None
        self._specs[nid] = spec
        return spec

    def forget(self, nid: str) -> None:
        """Drop a block's cached spec (its params changed, or it was removed)."""
        self._specs.pop(nid, None)

    def begin(self) -> None:
        self._created = []

    def created(self) -> list[str]:
        return list(self._created)

    def roll_back(self) -> set[str]:
        """Remove what was created since ``begin`` (blocks, their wires and weights), when a converter gives up
        half-way and a placeholder stands in for it; starts afresh and returns the ids removed."""
        gone = self.created()
        for nid in reversed(gone):
            for k in [k for k in self.weights if k.startswith(nid + ".")]:
                del self.weights[k]
            for edge in self.graph.in_edges(nid) + self.graph.out_edges(nid):
                self.graph.delete_edge(edge)
            self.graph.delete_node(nid)
            self.forget(nid)
        self.begin()
        return set(gone)

    def set_weight(self, key: str, array) -> None:
        import numpy as np
        self.weights[key] = np.ascontiguousarray(array, dtype=array.dtype if array.dtype == np.int64 else np.float32)

    # ---- axis order ----------------------------------------------------------------------------------------------
    def permute(self, t: KT, axes: str, hint: str) -> KT:
        nid = self.add("Permute", {"axes": axes}, [t], f"{hint}_perm")
        return self.out(nid, axes, t.keras, fallback=t.shape, dtype=t.dtype)

    def conform(self, t: KT, keras: str, studio: str, hint: str) -> KT:
        """``t`` with source letters ``keras`` (relabelled by a Reshape when they differ: the same data, read with
        other names) and studio order ``studio`` (reordered by a Permute)."""
        if t.keras != keras:
            if len(keras) != t.rank:
                raise Unsupported(f"expected a tensor of rank {len(keras)}, got rank {t.rank}")
            if t.studio != t.keras:
                t = self.permute(t, t.keras, hint)
            if sum(s is None for s in t.shape) > 1:
                raise Unsupported(f"cannot reorder a tensor with several unknown sizes {list(t.shape)}")
            nid = self.add("Reshape", {"shape": [-1 if s is None else s for s in t.shape], "axes": keras}, [t],
                           f"{hint}_axes")
            t = self.out(nid, keras, keras, fallback=t.shape, dtype=t.dtype)
        if t.studio != studio:
            t = self.permute(t, studio, hint)
        return t

    def canon(self, t: KT, hint: str) -> KT:
        """``t`` in the standard form of its rank (images channels-first in the studio)."""
        std = STD.get(t.rank)
        if t.keras == "T" or std is None:
            return t
        return self.conform(t, std, CANON[std], hint)

    def source_order(self, t: KT, hint: str) -> KT:
        """``t`` with the studio in the source's order (for Flatten, Reshape, Dense on the last axis)."""
        return self.conform(t, t.keras, t.keras, hint)

    # ---- placeholders --------------------------------------------------------------------------------------------
    def placeholder(self, source: str, op: str, reason: str, ins: list, fallback_shape=None) -> KT:
        """A block standing for a layer that was not converted; it carries the reason as its diagnostic."""
        import os

        nid = self.add(PLACEHOLDER, {"source": str(source), "op": str(op), "file": os.path.basename(self.source_file),
                                     "reason": reason}, ins, f"{source}")
        if fallback_shape is not None and len(fallback_shape) in STD:
            letters = STD[len(fallback_shape)]
            return KT(nid, CANON[letters], letters, tuple(fallback_shape))
        if ins:
            return KT(nid, ins[0].studio, ins[0].keras, (None,) * ins[0].rank)
        return KT(nid, "F", "F", (None,))
