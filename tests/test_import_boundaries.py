"""Import boundaries: the pure packages load no torch or Qt, and imports point one way (graph <- blocks <- ...).

Each runtime check runs in a fresh interpreter, because this test process has long since imported everything.
The static check reads every import statement, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hybrid_studio"
HEAVY = ("torch", "PySide6", "pyqtgraph")


def loaded_after_import(*modules: str) -> list[str]:
    code = ("import sys, json\n"
            + "".join(f"import {m}\n" for m in modules)
            + f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["hybrid_studio.graph", "hybrid_studio.blocks", "hybrid_studio.project",
                                    "hybrid_studio.cli", "hybrid_studio.compile"])
def test_pure_packages_load_neither_torch_nor_qt(module):
    assert loaded_after_import(module) == []


def test_all_pure_packages_together():
    assert loaded_after_import("hybrid_studio.graph", "hybrid_studio.blocks", "hybrid_studio.project") == []


def test_main_window_loads_without_torch():
    if not (PACKAGE / "ui" / "main_window.py").exists():
        pytest.skip("no main window yet")
    pytest.importorskip("PySide6")
    assert "torch" not in loaded_after_import("hybrid_studio.ui.main_window")


# ---- static layering -------------------------------------------------------------------------------------------------
#: package -> the hybrid_studio packages it must not import (arrows point one way; nothing but cli imports ui).
FORBIDDEN = {
    "graph": {"blocks", "project", "compile", "train", "ui", "cli"},
    "blocks": {"project", "compile", "train", "ui", "cli"},
    "project": {"compile", "train", "ui", "cli"},
    "compile": {"train", "ui", "cli"},
    "train": {"ui", "cli"},
    "sweep": {"ui", "cli"},
    "explain": {"ui", "cli"},
}
#: packages whose modules must not import Qt or plotting libraries anywhere, even lazily.
NO_QT = ("graph", "blocks", "project", "compile", "train", "sweep")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import statement in the file, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(ROOT).with_suffix("")
    package_parts = list(rel.parts[:-1])  # for __init__.py too: its package is its folder
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # `from . import x` imports submodules
                    out += [(node.lineno, f"{name}.{a.name}") for a in node.names]
                    continue
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def _package_files(package: str):
    return sorted((PACKAGE / package).rglob("*.py")) if (PACKAGE / package).is_dir() else []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    problems = []
    for path in _package_files(package):
        for line, name in _imports(path):
            parts = name.split(".")
            if parts[0] == "hybrid_studio" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            if package in NO_QT and parts[0] in ("PySide6", "pyqtgraph", "shiboken6"):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert problems == []


def test_import_scanner_sees_lazy_and_relative_imports(tmp_path):
    # guards the static test above against silently reading nothing
    imports = dict((name, line) for line, name in _imports(PACKAGE / "cli.py"))
    assert "hybrid_studio.ui.app" in imports and "hybrid_studio.project" in imports
    imports = [name for _, name in _imports(PACKAGE / "project" / "writer.py")]
    assert "hybrid_studio.project.atomic" in imports and "hybrid_studio.graph" in imports
