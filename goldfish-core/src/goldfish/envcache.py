"""Small caches that stay valid while the installed plugin set is unchanged.

Two things are cached under ``~/.cache/goldfish/<kind>-<fingerprint>.txt``: the top-level help
text (``kind="help"``: building the parser means importing pluggy and scanning entry points, 100+
ms on a small machine) and the ``goldfish.plugins`` entry points (``kind="plugins"``: stevedore's
import and scan cost ~60 ms on every command). Both only change when a distribution is installed
or removed, Goldfish's own command modules change, or the allow-list / terminal width differ;
those go into the fingerprint. ``GOLDFISH_NO_CACHE=1`` bypasses the caches.
"""

from __future__ import annotations

import os
import sys

from goldfish import __version__


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "goldfish")


def fingerprint(*, terminal: bool = True, cwd: bool = True) -> str:
    """The installation as caches see it. ``terminal=False`` leaves out the terminal width
    (which only rendered help depends on); ``cwd=False`` the current directory's mtime, which
    ``python -c``/``-m`` put on ``sys.path`` as ``''`` and which changes with any file created
    there (STATE.md is rewritten in the project root)."""
    parts = [__version__, sys.executable, os.environ.get("GOLDFISH_LOAD_PLUGINS", "\0")]
    if terminal:
        parts.append(os.environ.get("COLUMNS", ""))
        try:
            parts.append(str(os.get_terminal_size().columns))
        except OSError:
            parts.append("-")
    plugins_dir = os.environ.get("GOLDFISH_PLUGINS_DIR")
    if plugins_dir:  # development plugins: their files are the installation
        parts.append(plugins_dir)
        try:
            for name in sorted(os.listdir(plugins_dir)):
                parts.append(f"{name}:{os.stat(os.path.join(plugins_dir, name)).st_mtime_ns}")
        except OSError:
            pass
    for entry in sys.path:
        if not cwd and entry in ("", "."):
            continue
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            continue
    here = os.path.dirname(os.path.abspath(__file__))
    for sub in ("cli", "builtins"):
        folder = os.path.join(here, sub)
        try:
            for name in sorted(os.listdir(folder)):
                if name.endswith(".py"):
                    parts.append(f"{name}:{os.stat(os.path.join(folder, name)).st_mtime_ns}")
        except OSError:
            continue
    return sha1("\n".join(parts).encode())[:20]


def sha1(data: bytes) -> str:
    # The builtin ``_sha1`` avoids loading OpenSSL through hashlib (~5 ms per invocation).
    try:
        import _sha1

        return str(_sha1.sha1(data).hexdigest())
    except ImportError:  # pragma: no cover - interpreters built without it
        import hashlib

        return hashlib.sha1(data).hexdigest()


def stamp(file: str | None) -> str:
    """A file as caches key it: path, mtime and size (``-`` when it cannot be read)."""
    try:
        st = os.stat(file or "")
    except OSError:
        return f"{file} -"
    return f"{file} {st.st_mtime_ns} {st.st_size}"


def _path(kind: str, installation: bool = False) -> str:
    key = fingerprint(terminal=False, cwd=False) if installation else fingerprint()
    return os.path.join(_cache_dir(), f"{kind}-{key}.txt")


def read(kind: str = "help", *, installation: bool = False) -> str | None:
    """The cached text of ``kind``; ``installation``: keyed by the installation alone (not the
    terminal width, nor the current directory of a ``python -c``/``-m`` process)."""
    if os.environ.get("GOLDFISH_NO_CACHE") == "1":
        return None
    try:
        with open(_path(kind, installation), encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def write(text: str, kind: str = "help", *, installation: bool = False) -> None:
    if os.environ.get("GOLDFISH_NO_CACHE") == "1":
        return
    try:
        os.makedirs(_cache_dir(), exist_ok=True)
        path = _path(kind, installation)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        pass
