"""The search space of a sweep: what ``--param NAME=SPEC`` means, checked against the project before any trial.

NAME is ``training.<setting>`` (a TrainConfig field) or ``<block id>.<param>``; SPEC is a list ``32,64,128``, an
int range ``16..128``, or a float range ``1e-4..1e-2`` with ``:log`` for a log scale. Nothing here imports Optuna
or torch: a ``SearchParam`` turns into an Optuna distribution only when a trial asks it (``suggest``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

#: TrainConfig fields a sweep may not touch: they say where and on what the run trains, not how well.
NOT_SWEPT = ("device", "dataset", "num_threads", "compile", "init_weights")


class SpaceError(ValueError):
    """A ``--param`` that cannot be searched, with the reason in words (naming the param)."""


@dataclass(frozen=True)
class SearchParam:
    """One searched value: ``kind`` is ``choice`` (``choices``), ``int`` or ``float`` (``low``..``high``, ``log``)."""

    name: str
    kind: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def target(self) -> tuple[str, str]:
        """("training", setting) or (block id, param)."""
        head, _, tail = self.name.partition(".")
        return head, tail

    def suggest(self, trial):
        """The value an Optuna trial picks for this param."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def grid_values(self) -> list:
        """Every value, for the grid sampler (a float range has no grid)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            if int(self.high) - int(self.low) > 1000:
                raise SpaceError(f"{self.name}: an int range of more than 1000 values cannot be a grid; "
                                 f"list the values instead (e.g. 16,32,64)")
            return list(range(int(self.low), int(self.high) + 1))
        raise SpaceError(f"{self.name}: a float range has no grid; list the values instead (e.g. 1e-4,1e-3,1e-2) "
                         f"or use --sampler tpe or random")

    def describe(self) -> str:
        if self.kind == "choice":
            return ",".join(_text(c) for c in self.choices)
        sep = ".."
        return f"{_text(self.low)}{sep}{_text(self.high)}{':log' if self.log else ''}"

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _scalar(text: str):
    """A list item as the value it spells: true/false, null, an int, a float, else the text itself."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        v = float(t)
    except ValueError:
        return t
    if not math.isfinite(v):
        raise SpaceError(f"{t!r} is not a finite number")
    return v


def parse_param(text: str) -> tuple[str, str]:
    """``NAME=SPEC`` -> (NAME, SPEC), refusing what cannot be either."""
    name, eq, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not eq or not name or not spec:
        raise SpaceError(f"--param {text!r}: expected NAME=SPEC, e.g. lstm.hidden_size=32,64,128 or "
                         f"training.lr=1e-4..1e-2:log")
    head, dot, tail = name.partition(".")
    if not dot or not head or not tail or "." in tail:
        raise SpaceError(f"--param {name!r}: NAME is training.<setting> or <block id>.<param>")
    return name, spec


def _spec_kind(name: str, spec: str):
    """(kind, choices, low, high, log) from the text of SPEC, before it is checked against the param."""
    log = False
    body = spec
    if body.endswith(":log"):
        log, body = True, body[:-4]
    if ".." in body:
        lo_text, _, hi_text = body.partition("..")
        lo, hi = _scalar(lo_text), _scalar(hi_text)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
            raise SpaceError(f"--param {name}: a range takes two numbers, got {spec!r}")
        if lo >= hi:
            raise SpaceError(f"--param {name}: the range's low end must be below its high end, got {spec!r}")
        if log and lo <= 0:
            raise SpaceError(f"--param {name}: a log range must be above 0, got {spec!r}")
        kind = "int" if isinstance(lo, int) and isinstance(hi, int) else "float"
        return kind, (), lo, hi, log
    if log:
        raise SpaceError(f"--param {name}: ':log' goes with a range (low..high), got {spec!r}")
    items = [s for s in body.split(",")]
    if any(not s.strip() for s in items):
        raise SpaceError(f"--param {name}: an empty value in the list {spec!r}")
    choices = tuple(_scalar(s) for s in items)
    if len(set(map(repr, choices))) != len(choices):
        raise SpaceError(f"--param {name}: the list {spec!r} repeats a value")
    return "choice", choices, None, None, False


def _training_fields() -> dict:
    from hybrid_studio.train.config import TrainConfig  # standard library only (no torch)
    return {f.name: f.default for f in fields(TrainConfig)}


def _check_value(name: str, value, default) -> str | None:
    """Why ``value`` cannot stand for a setting whose default is ``default`` (by type), or None."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if isinstance(default, float):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "text"
    return None


def build_param(graph, text: str) -> SearchParam:
    """One ``--param NAME=SPEC`` checked against ``graph``: the block and param exist and SPEC fits the param."""
    name, spec = parse_param(text)
    kind, choices, low, high, log = _spec_kind(name, spec)
    sp = SearchParam(name, kind, choices, low, high, log)
    head, param = sp.target
    if head == "training":
        settings = _training_fields()
        if param not in settings:
            raise SpaceError(f"--param {name}: there is no training setting '{param}' (settings: "
                             f"{', '.join(s for s in settings if s not in NOT_SWEPT)})")
        if param in NOT_SWEPT:
            raise SpaceError(f"--param {name}: '{param}' says where or on what a run trains; it cannot be swept")
        default = settings[param]
        values = list(choices) if kind == "choice" else [low, high]
        if kind == "float" and isinstance(default, int) and not isinstance(default, bool):
            raise SpaceError(f"--param {name}: '{param}' is a whole number; give an int range (e.g. 16..128) "
                             f"or a list, got {spec!r}")
        for v in values:
            why = _check_value(name, v, default)
            if why:
                raise SpaceError(f"--param {name}: '{param}' takes {why}, got {v!r}")
        _check_config_values(name, param, values if kind == "choice" else [low, high])
        return sp
    node = graph.get(head)
    if node is None:
        ids = ", ".join(n.id for n in graph.nodes[:12])
        raise SpaceError(f"--param {name}: there is no block '{head}' in the project (blocks: {ids}"
                         f"{', ...' if len(graph) > 12 else ''})")
    from hybrid_studio.blocks import CATALOG
    if not CATALOG.is_known(node.type):
        raise SpaceError(f"--param {name}: block '{head}' is of unknown type {node.type!r}")
    if node.type == "Output" and param == "task":
        raise SpaceError(f"--param {name}: the Output's task sets what the sweep optimises (its metric and "
                         f"direction); it cannot be swept")
    block = CATALOG.get(node.type)
    try:
        pspec = block.param(param)
    except KeyError:
        names = ", ".join(p.name for p in block.params)
        raise SpaceError(f"--param {name}: {node.type} block '{head}' has no param '{param}' (params: {names})") \
            from None
    if kind in ("int", "float"):
        if pspec.kind not in ("int", "float", "int_or_pair", "padding"):
            raise SpaceError(f"--param {name}: '{param}' is not a number ({pspec.kind}); give a list of values")
        if kind == "float" and pspec.kind != "float":
            raise SpaceError(f"--param {name}: '{param}' takes whole numbers; give an int range (e.g. 1..5)")
        for v in (low, high):
            err = pspec.problem(int(v) if kind == "int" else float(v))
            if err:
                raise SpaceError(f"--param {name}: the range end {v!r} is not allowed: {param} {err}")
    else:
        for v in choices:
            err = pspec.problem(v)
            if err:
                raise SpaceError(f"--param {name}: the value {v!r} is not allowed: {param} {err}")
    return sp


def _check_config_values(name: str, setting: str, values) -> None:
    """Each value must make a TrainConfig that validates (lr > 0, optimizer known, ...)."""
    from hybrid_studio.train.config import ConfigError, TrainConfig
    for v in values:
        try:
            TrainConfig().replace(**{setting: v})
        except (ConfigError, ValueError) as e:
            raise SpaceError(f"--param {name}: the value {v!r} is not allowed: {e}") from None


def build_space(graph, texts) -> list[SearchParam]:
    """Every ``--param`` checked; a name given twice is refused."""
    space = [build_param(graph, t) for t in texts]
    seen = set()
    for sp in space:
        if sp.name in seen:
            raise SpaceError(f"--param {sp.name} is given twice")
        seen.add(sp.name)
    return space


def split_values(values: dict) -> tuple[dict, dict]:
    """A trial's values -> (training changes, {block id: {param: value}})."""
    training, blocks = {}, {}
    for name, v in values.items():
        head, _, tail = name.partition(".")
        if head == "training":
            training[tail] = v
        else:
            blocks.setdefault(head, {})[tail] = v
    return training, blocks
