"""Hybrid Studio: design, check, export and train hybrid CNN+RNN networks visually."""

import sys
from pathlib import Path

__version__ = "0.1.0"


def _resources() -> Path:
    """Icons and templates: ``resources/`` beside the package in a checkout (editable install), or the copy a
    regular install puts under ``<prefix>/share/hybrid-studio`` (pyproject's data-files)."""
    here = Path(__file__).resolve().parent.parent / "resources"
    if here.is_dir():
        return here
    for prefix in (sys.prefix, sys.base_prefix):
        installed = Path(prefix) / "share" / "hybrid-studio" / "resources"
        if installed.is_dir():
            return installed
    return here


#: Icons, templates and styles.
RESOURCES = _resources()
