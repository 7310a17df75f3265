"""Per-sample lengths of variable-length inputs, as the training engine and the results view feed them to a model.

The model takes them as extra forward() arguments after its inputs (``GeneratedModel.length_args``, in that
order); the output lengths CTC and the decoder need come from ``compile.lengths.LengthPlan``, the same rule the
model applies. No torch here: arrays are numpy; the caller turns them into tensors.
"""

from __future__ import annotations

import numpy as np


def input_lengths(gen, order, split) -> list:
    """For each variable-length Input of the generated model ``gen``, the int64 (N,) lengths of ``split``'s
    samples: the data's ``x_lengths``, or every sample's full T when the data has none. ``order``: the dataset
    input index of each of the model's inputs (``matching.input_order``)."""
    out = []
    for nid in gen.length_args:
        k = order[gen.input_ids.index(nid)]
        lengths = split.input_lengths(k)
        if lengths is None:
            lengths = np.full(len(split), np.asarray(split.x[k]).shape[1], np.int64)
        out.append(np.asarray(lengths, np.int64))
    return out


__all__ = ["input_lengths"]
