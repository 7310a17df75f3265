"""Sequence labels for CTC outputs (contract 5.2): label checks, greedy decoding, the character error rate.

Labels are ints ``(N, S_max)``: 1..K-1 for the K-1 symbols, padded with 0 (0 is the CTC blank, never a target).
No torch at the top: the checks run on numpy arrays, decoding takes any array of per-step scores.
"""

from __future__ import annotations

import numpy as np


class LabelError(ValueError):
    """CTC labels that cannot be trained, with the reason in words."""


def label_lengths(y: np.ndarray) -> np.ndarray:
    """The number of labels of each row (the count of non-zero entries)."""
    return (np.asarray(y) > 0).sum(axis=1)


def check_labels(y: np.ndarray, where: str, name: str = "y") -> int:
    """Refuse labels CTC cannot train (naming ``where`` and the first sample); return the largest label (K-1)."""
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise LabelError(f"{where}: ctc labels '{name}' must be integers, got {y.dtype}")
    if y.ndim != 2:
        raise LabelError(f"{where}: ctc labels '{name}' must be shaped (N, S_max) and padded with 0, got "
                         f"{y.shape}")
    if y.size and y.min() < 0:
        first = int(np.flatnonzero((y < 0).any(1))[0])
        raise LabelError(f"{where}: ctc labels '{name}' must be 1..K-1 (0 pads), found {int(y.min())} in sample "
                         f"{first}")
    lengths = label_lengths(y)
    if (lengths == 0).any():
        first = int(np.flatnonzero(lengths == 0)[0])
        raise LabelError(f"{where}: sample {first} of '{name}' has no label (every sample needs at least one; 0 "
                         f"is the blank and only pads)")
    # padding only at the end: a 0 between labels would silently cut the sequence
    after_pad = np.cumsum(y == 0, axis=1) > 0
    if (after_pad & (y > 0)).any():
        first = int(np.flatnonzero((after_pad & (y > 0)).any(1))[0])
        raise LabelError(f"{where}: sample {first} of '{name}' has a label after a 0; pad with 0 only at the end "
                         f"(0 is the CTC blank, never a target)")
    return int(y.max()) if y.size else 0


def min_steps(labels) -> int:
    """The fewest output steps CTC needs for ``labels``: one per label plus a blank between equal neighbours."""
    labels = [int(v) for v in labels if v > 0]
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


def too_long(y: np.ndarray, steps: int) -> tuple[int, int] | None:
    """(sample index, steps it needs) of the first sample CTC cannot align in ``steps`` output steps, or None."""
    for i, row in enumerate(np.asarray(y)):
        need = min_steps(row)
        if need > steps:
            return i, need
    return None


def greedy_decode(scores, lengths=None) -> list[list[int]]:
    """Best-path decoding of per-step scores ``(N, T, K)`` (logits or log-probabilities): the most likely class at
    each step, repeats merged, blanks (0) dropped. ``lengths``: each sample's own number of steps (the rest is
    padding), or None (all T)."""
    best = np.asarray(scores).argmax(-1)
    out = []
    for i, row in enumerate(best):
        if lengths is not None:
            row = row[:int(lengths[i])]
        seq, prev = [], -1
        for c in row.tolist():
            if c != prev and c != 0:
                seq.append(c)
            prev = c
        out.append(seq)
    return out


def edit_distance(a, b) -> int:
    """Levenshtein distance between two label sequences (insertions, deletions, substitutions cost 1)."""
    a, b = list(a), list(b)
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def errors_and_length(decoded, targets) -> tuple[int, int]:
    """(total edit distance, total target length) of decoded sequences against padded target rows."""
    errors = length = 0
    for seq, row in zip(decoded, np.asarray(targets)):
        target = [int(v) for v in row if v > 0]
        errors += edit_distance(seq, target)
        length += len(target)
    return errors, length


def to_text(labels, class_names) -> str:
    """Labels 1..K-1 as text: ``class_names[label - 1]`` joined (with spaces when a name is longer than one
    character)."""
    names = [class_names[v - 1] if 0 < v <= len(class_names) else str(v) for v in labels]
    return ("" if all(len(n) == 1 for n in names) else " ").join(names)
