"""What an import gives back: the graph, the weights (a state_dict as numpy arrays) and the import report.

Nothing here imports torch or Qt. Weights stay numpy arrays until a caller saves them (``save_weights``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The block type of a layer that could not be converted. It is deliberately not in the catalog: the checker shows
#: it as an error carrying ``params["reason"]`` (see graph/checker.py), and the graph around it still loads.
PLACEHOLDER = "Placeholder"


class ImportFailure(Exception):
    """The source cannot be read at all (exit 2): a corrupt file, a config that is not a model, ...

    The message names the file and, where there is one, the layer.
    """

    def __init__(self, path, message: str):
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.reason = message


class Unsupported(Exception):
    """One layer cannot be converted; it becomes a placeholder block carrying ``reason``."""


@dataclass
class ReportEntry:
    """One source layer (or ONNX node group) and what it became."""

    source: str
    op: str
    blocks: list = field(default_factory=list)
    #: None when converted; otherwise why not (and what to do), shown on the placeholder.
    reason: str | None = None
    #: Something the user should know about a converted layer (e.g. an ignored mask).
    note: str = ""

    @property
    def converted(self) -> bool:
        return self.reason is None


@dataclass
class ImportResult:
    graph: object
    #: state_dict of the exported Model: key -> numpy array (float32, or int64 for counters).
    weights: dict
    entries: list
    source: str
    #: False for a file with no weights (Keras ``to_json`` output): nothing is written beside the project.
    has_weights: bool = True

    @property
    def converted(self) -> list:
        return [e for e in self.entries if e.converted]

    @property
    def unsupported(self) -> list:
        return [e for e in self.entries if not e.converted]

    def report_json(self, project=None, weights=None) -> dict:
        """The ``--json`` object of ``hybrid-studio import`` (contract 5.3)."""
        return {"project": None if project is None else str(project),
                "weights": None if weights is None else str(weights),
                "converted": [{"source": e.source, "blocks": list(e.blocks)} for e in self.converted],
                "unsupported": [{"source": e.source, "op": e.op, "reason": e.reason} for e in self.unsupported]}

    def report_text(self) -> str:
        """The import report as lines of text: every source layer and what it became."""
        lines = [f"Imported {self.source}: {len(self.converted)} layer(s) converted, "
                 f"{len(self.unsupported)} not converted."]
        for e in self.entries:
            if e.converted:
                what = ", ".join(e.blocks) if e.blocks else "(nothing: no effect at inference)"
                lines.append(f"  {e.source} ({e.op}) -> {what}" + (f"  [{e.note}]" if e.note else ""))
            else:
                lines.append(f"  {e.source} ({e.op}) -> placeholder {', '.join(e.blocks)}: {e.reason}")
        return "\n".join(lines)


def save_weights(weights: dict, path) -> None:
    """Write ``weights`` as a torch state_dict (loadable with ``torch.load(weights_only=True)``), atomically."""
    import io

    import numpy as np
    import torch

    from hybrid_studio.project.atomic import atomic_write_bytes

    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def weights_path_for(project_path) -> "Path":  # noqa: F821
    """``PROJECT.hsproj.json`` -> ``PROJECT.weights.pt`` beside it (``x.json`` -> ``x.weights.pt``)."""
    from pathlib import Path

    p = Path(project_path)
    name = p.name
    for suffix in (".hsproj.json", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".weights.pt")
