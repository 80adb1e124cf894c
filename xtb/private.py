"""Files and directories readable by their owner only: run records hold positions, fills and PnL.

    make_private_dir(path)       mkdir (parents too) and chmod 0700, whatever the umask
    create_private_file(path)    create (or truncate) a 0600 file, so a writer that opens it later keeps the mode
"""

from __future__ import annotations

import os
from pathlib import Path


def make_private_dir(path: Path, *, exist_ok: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=exist_ok, mode=0o700)
    os.chmod(path, 0o700)  # mkdir's mode is masked by the umask, and an existing directory keeps its own
    return path


def create_private_file(path: Path, *, truncate: bool = False) -> Path:
    """Make sure `path` exists with mode 0600 (its content kept unless `truncate`)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def write_private_text(path: Path, text: str) -> None:
    create_private_file(path, truncate=True)
    path.write_text(text, encoding="utf-8")
