"""The desktop app. The only package that imports PySide6 and pyqtgraph; nothing imports it."""

from __future__ import annotations


def _lighter_feature_check() -> None:
    """Make PySide's per-import check cheap: read the module's file instead of ``inspect.getsource``.

    Once PySide6 is loaded it checks every module imported afterwards for the text "PySide6" (for its opt-in
    ``__feature__`` switches) through ``inspect.getsource``, which goes through linecache and the tokenizer: ~0.25 ms
    a module, 15-20 ms of the app's start-up (78 modules before the first paint). The same question answered from
    the file's bytes gives the same answer at a tenth of the cost. Anything unexpected (another PySide version
    without this hook, a module without a ``.py`` file) keeps PySide's own check.
    """
    import sys
    from PySide6 import QtCore  # noqa: F401 - the ui package needs Qt anyway; this loads shibokensupport
    feature = sys.modules.get("shibokensupport.feature")
    original = getattr(feature, "_mod_uses_pyside", None)
    if original is None or getattr(original, "_hybrid_studio", False):
        return

    def mod_uses_pyside(module) -> bool:
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.endswith(".py"):
            try:
                with open(path, "rb") as f:
                    return b"PySide6" in f.read()
            except OSError:
                pass
        return original(module)

    mod_uses_pyside._hybrid_studio = True
    feature._mod_uses_pyside = mod_uses_pyside


try:
    _lighter_feature_check()
except Exception:  # noqa: BLE001 - a speed-up only; PySide's own check stays in place
    pass
