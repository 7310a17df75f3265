"""Where Hybrid Studio keeps its own files (recovery files, settings, the runs of unsaved projects): one rule for
the app and the command line, without Qt.

``$HYBRID_STUDIO_DATA_DIR`` when set, else the platform's per-user data folder: ``%LOCALAPPDATA%`` on Windows,
``~/Library/Application Support`` on macOS, ``$XDG_DATA_HOME`` (default ``~/.local/share``) elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def data_dir() -> Path:
    env = os.environ.get("HYBRID_STUDIO_DATA_DIR")
    if env:
        return Path(env)
    home = Path.home()
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "HybridStudio"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "HybridStudio"
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "hybrid-studio"
