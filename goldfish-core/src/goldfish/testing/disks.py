"""Real disk faults for tests: a small tmpfs that can be filled up or remounted read-only.

Mounting needs root (CI containers run as root); :func:`tmpfs` skips the test otherwise. Nothing
is simulated: Goldfish sees the same ``ENOSPC``/``EROFS`` errors (and SQLite the same failures)
as on a real full or read-only disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tmpfs(mountpoint: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``mountpoint`` (created) for the duration of the block."""
    import pytest

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def fill(mountpoint: Path, leave_bytes: int = 0) -> Path:
    """Fill the file system of ``mountpoint`` until ``leave_bytes`` are free; returns the file
    to delete to free the space again."""
    ballast = mountpoint / ".ballast"
    free = shutil.disk_usage(mountpoint).free - leave_bytes
    with open(ballast, "ab", buffering=0) as fh:
        chunk = b"\0" * 65536
        while free > 0:
            try:
                written = fh.write(chunk[:free])
            except OSError:
                break
            free -= written or 0
    return ballast


def remount(mountpoint: Path, mode: str) -> None:
    """Remount ``mountpoint`` ``ro`` or ``rw``."""
    done = subprocess.run(["mount", "-o", f"remount,{mode}", str(mountpoint)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"cannot remount {mountpoint} {mode}: {done.stderr.strip()} (close "
                           "the files open for writing there first)")
