"""Hybrid Studio: design, check, export and train hybrid CNN+RNN networks visually."""

from pathlib import Path

__version__ = "0.1.0"

#: Icons, templates and styles (kept beside the package; the project installs in editable mode).
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
