"""Param specs: name, kind, default, range, help. Blocks declare them; the reader, inspector and checker use them.

Two levels of checking:
- ``type_error(value)``: the value is of the wrong JSON type (a string where a number goes). The project reader
  refuses such a file.
- ``range_error(value)``: the type is right but the value is not allowed (``out_channels: 0``). The graph loads and
  the block shows a diagnostic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybrid_studio.graph.tensor import AXIS_LETTERS

KINDS = ("int", "float", "bool", "choice", "int_or_pair", "padding", "shape", "axes")
#: The largest size, count or padding any param may take unless it says less: 2^24 (16,777,216) channels, features
#: or steps is beyond what any model uses, yet small enough that torch builds every block that passes the check
#: (10^18 channels or a padding of 10^300 passed before, and the exported Model() failed).
MAX_SIZE = 1 << 24


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Param:
    """One block parameter.

    kinds: ``int``, ``float``, ``bool``, ``choice`` (one of ``choices``; None allowed if listed), ``int_or_pair``
    (an int, or ``[h, w]`` when ``pair`` is true; ``[t, h, w]`` when ``entries`` is 3), ``padding`` (like int_or_pair, or ``"same"``/``"valid"``),
    ``shape`` (a list of sizes; ``null`` and -1 as the block allows), ``axes`` (axis letters).
    """

    name: str
    kind: str
    default: object
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    pair: bool = False
    nullable: bool = False   # for int/float: None allowed (e.g. stride defaults to kernel_size)
    entries: int = 2         # for pair params: the length of the list form (3 for Conv3d's [t, h, w])

    @property
    def list_form(self) -> str:
        """How the list form of a pair param reads: ``[h, w]`` or ``[t, h, w]``."""
        return "[t, h, w]" if self.entries == 3 else "[h, w]"

    def type_error(self, v) -> str | None:
        k = self.kind
        if v is None and (self.nullable or (k == "choice" and None in self.choices)):
            return None
        if k == "int":
            return None if _is_int(v) else "an integer"
        if k == "float":
            return None if _is_num(v) else "a number"
        if k == "bool":
            return None if isinstance(v, bool) else "true or false"
        if k == "choice":
            return None if isinstance(v, str) else "one of " + ", ".join(repr(c) for c in self.choices if c)
        if k in ("int_or_pair", "padding"):
            if _is_int(v):
                return None
            if k == "padding" and isinstance(v, str):
                return None
            if self.pair and isinstance(v, list) and len(v) == self.entries and all(_is_int(x) for x in v):
                return None
            what = "an integer" + (f" or {self.list_form}" if self.pair else "")
            return what + (' or "same" / "valid"' if k == "padding" else "")
        if k == "shape":
            if isinstance(v, list) and all(x is None or _is_int(x) for x in v):
                return None
            return "a list of sizes (integers or null)"
        if k == "axes":
            return None if isinstance(v, str) else "a string of axis letters (T, C, H, W, L, F)"
        raise ValueError(f"unknown param kind {k}")

    def problem(self, v) -> str | None:
        """Why ``v`` is not allowed for this param, as "must be ..." (wrong type or out of range), or None."""
        err = self.type_error(v)
        if err:
            return f"must be {err}"
        return None if v is None and self.nullable else self.range_error(v)

    def range_error(self, v) -> str | None:
        """Assumes ``type_error(v)`` is None."""
        k = self.kind
        if v is None:
            return None
        if k in ("int", "float"):
            if self.min is not None and v < self.min:
                return f"must be at least {self.min}"
            if self.max is not None and v > self.max:
                return f"must be at most {self.max}"
            if k == "int" and self.max is None and abs(v) > MAX_SIZE:
                return f"must be at most {MAX_SIZE:,} (a size no machine could hold)"
            if k == "float" and not math.isfinite(v):
                return "must be a finite number"
        if k == "choice" and v not in self.choices:
            return "must be one of " + ", ".join(repr(c) for c in self.choices if c is not None)
        if k in ("int_or_pair", "padding"):
            if isinstance(v, str):
                return None if v in ("same", "valid") else 'must be an integer, "same" or "valid"'
            for x in (v if isinstance(v, list) else [v]):
                if self.min is not None and x < self.min:
                    return f"must be at least {int(self.min)}"
                if x > (self.max if self.max is not None else MAX_SIZE):
                    return f"must be at most {int(self.max if self.max is not None else MAX_SIZE):,}"
        if k == "shape":
            if any(x is not None and abs(x) > MAX_SIZE for x in v):
                return f"has a size above {MAX_SIZE:,} (a size no machine could hold)"
            if len(v) > 8:
                return "has more than 8 axes"
        if k == "axes":
            bad = [c for c in v if c not in AXIS_LETTERS]
            if bad:
                return f"has unknown axis letters {''.join(bad)!r} (use T, C, H, W, L, F)"
            if len(set(v)) != len(v):
                return "repeats an axis letter"
        return None
