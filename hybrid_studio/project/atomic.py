"""Atomic file writes: readers see the old file or the new one, never half of either.

The data goes to a temporary file in the target's folder (so the final rename stays on one file system), which is
flushed and fsynced before ``os.replace`` swaps it in. If anything fails before the swap, the old file is untouched
and the temporary file is removed.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, flush, fsync, os.replace)."""
    path = _through_link(Path(path))
    folder = path.parent if str(path.parent) else Path(".")
    _check_writable(path, folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:  # name the file asked for, not the temporary one
        raise _error(e, path, f"cannot create files in {folder}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; keep the old file's mode, or the usual umask-based mode for a new one.
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def _through_link(path: Path) -> Path:
    """Where to write for ``path``: a symbolic link of the user's own is written through (the link stays, its
    target gets the new content). Someone else's link is refused: in a shared folder such as /tmp, following it
    would let another user aim our write at any of our files."""
    if not path.is_symlink():
        return path
    if hasattr(os, "getuid") and os.lstat(path).st_uid != os.getuid():
        raise PermissionError(errno.EPERM, "it is a symbolic link that belongs to another user", str(path))
    try:
        return path.resolve(strict=False)
    except RuntimeError:  # a loop of links
        raise OSError(errno.ELOOP, "it is a loop of symbolic links", str(path)) from None


def _check_writable(path: Path, folder: Path) -> None:
    """Refuse to replace a read-only file (the rename would go through: it needs only the folder's permission), or
    something that is not a file (a device such as /dev/null would be replaced by a plain file)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if not folder.is_dir():
            raise FileNotFoundError(errno.ENOENT, f"the folder {folder} does not exist", str(path)) from None
        return
    if not stat.S_ISREG(mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder", str(path)) if stat.S_ISDIR(mode) else \
            OSError(errno.EINVAL, "it is not a regular file (a device, pipe or socket)", str(path))
    if not mode & 0o222 or not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))


def _error(e: OSError, path: Path, detail: str) -> OSError:
    return type(e)(e.errno, f"{e.strerror or e} ({detail})", str(path))


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically; newlines are written as given (no platform translation)."""
    atomic_write_bytes(path, text.encode(encoding))


def _mode_for(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (or needed) everywhere, so failures are ignored.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
