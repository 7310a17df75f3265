"""The starter projects in ``resources/templates`` (``*.hsproj.json``, each with a one-line ``description``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hybrid_studio.graph import Graph

from .errors import ProjectError
from .reader import load_project

SUFFIX = ".hsproj.json"
#: Shown first (and opened when the app starts without a project); the rest follow alphabetically.
DEFAULT_TEMPLATE = "seed-cnn-lstm"


@dataclass(frozen=True)
class Template:
    name: str          # file name without .hsproj.json, e.g. "crnn"
    title: str         # for menus, e.g. "CRNN (Shi et al. 2015)"
    description: str   # one line
    path: Path


def templates_dir() -> Path:
    import hybrid_studio
    return hybrid_studio.RESOURCES / "templates"


def list_templates() -> list[Template]:
    """Every template, the default one first. A broken template file raises ProjectError naming it."""
    out = []
    for path in sorted(templates_dir().glob("*" + SUFFIX)):
        graph = load_project(path)
        name = path.name[: -len(SUFFIX)]
        title = graph.extra.get("title")
        description = graph.extra.get("description")
        out.append(Template(name, title if isinstance(title, str) else graph.name,
                            description if isinstance(description, str) else "", path))
    out.sort(key=lambda t: (t.name != DEFAULT_TEMPLATE, t.name))
    return out


def load_template(name: str) -> Graph:
    """The Graph of template ``name`` (e.g. ``"crnn"``); ProjectError when there is none of that name."""
    path = templates_dir() / (name + SUFFIX)
    if "/" in name or "\\" in name or not path.is_file():
        known = ", ".join(p.name[: -len(SUFFIX)] for p in sorted(templates_dir().glob("*" + SUFFIX)))
        raise ProjectError(name, None, f"no such template (there are: {known or 'none'})")
    return load_project(path)
