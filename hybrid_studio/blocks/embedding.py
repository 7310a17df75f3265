"""Embedding: token ids (int64) -> learned feature vectors."""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import TensorSpec

from .base import PER_STEP, Block, ModuleSpec, register
from .params import Param


@register
class Embedding(Block):
    type_name = "Embedding"
    category = "Recurrent"
    id_prefix = "embed"
    accepts_int = True
    help = ("Looks up a learned vector for every token id: int64 (N, T) -> (N, T, F=embedding_dim). Ids must lie in "
            "[0, num_embeddings).")
    params = (
        Param("num_embeddings", "int", 1000, "Vocabulary size: token ids run from 0 to num_embeddings - 1.", min=1),
        Param("embedding_dim", "int", 64, "Size of each embedding vector (F).", min=1),
    )

    def infer(self, p, ins):
        spec = ins[0]
        if spec.dtype != "int64":
            fixes = []
            if spec.rank == 1:
                # only a 1-D Input may hold tokens; the binder drops this fix when the upstream block is no Input
                fixes.append(FixSpec.set_upstream_param("in", "dtype", "int64"))
            self.fail(f"Embedding takes int64 token ids (N, T) but received {spec.dtype} values "
                      f"{spec.describe_axes()}; feed it token ids (an Input with dtype int64), or use Linear for "
                      f"float features", *fixes, code="embedding-dtype")
        lead = spec.axes[:-1]
        if "T" in lead or "F" in lead:
            self.fail(f"Embedding adds a feature axis F after the token axis, but {spec.describe_axes()} already has "
                      f"a {'time' if 'T' in lead else 'feature'} axis in front; give it token ids (N, T)",
                      code="embedding-input")
        # the last axis holds the token positions: it becomes the time axis T
        return TensorSpec(lead + "TF", spec.shape + (p["embedding_dim"],))

    def count(self, p, ins, out):
        return p["num_embeddings"] * p["embedding_dim"], 0  # a lookup, no multiplications

    def module(self, p, ins, out):
        return ModuleSpec("Embedding", (p["num_embeddings"], p["embedding_dim"]))

    def forward(self, p, ins, out, m, xs, y):
        return [f"{y} = {m}({xs[0]})"]

    def steps(self, p, ins, out):
        return PER_STEP  # one lookup per token

    def summary(self, p):
        return f"{p['num_embeddings']} -> {p['embedding_dim']}"
