"""The built-in ``file://`` storage backend: objects are plain files.

URIs: ``file:///abs/path`` (absolute) or ``file://rel/path`` (relative to the project root, the
form ``goldfish.yaml`` uses: ``storage: file://.goldfish/store``). A relative URI may not climb out
of the project with ``..``. Paths are taken literally (no percent-decoding).

Writes are atomic: bytes go to a hidden temp file in the target directory, are fsynced and then
renamed over the target, so a reader sees the old object or the new one, never part of one; the
temp files (``.goldfish-tmp-*``) are never listed.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from goldfish.errors import InvalidInputError, NotFoundError
from goldfish.storage import StoredObject

PREFIX = "file://"
TMP_PREFIX = ".goldfish-tmp-"
CHUNK = 1024 * 1024


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(target: Path, src: Path | bytes, *, sync: bool = True) -> None:
    """Copy ``src`` (a file or bytes) to ``target`` through a fsynced temp file and a rename.
    ``sync=False`` skips the fsyncs, for a caller that flushes the file system once after many
    writes (backups: :func:`goldfish.backup.dest.sync_filesystem`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{TMP_PREFIX}{os.urandom(16).hex()}-{target.name}")  # uuid: platform
    try:
        with open(tmp, "wb") as out:
            if isinstance(src, bytes | bytearray | memoryview):
                out.write(src)
            else:
                with open(src, "rb") as inp:
                    shutil.copyfileobj(inp, out, CHUNK)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        _fsync_dir(target.parent)


class FileStorage:
    """Objects as files under the local filesystem (see the module docstring)."""

    scheme = "file"

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        self.project_root = Path(project_root).resolve()
        self.config = dict(config or {})

    def path(self, uri: str) -> Path:
        """The filesystem path a ``file://`` URI names."""
        if not isinstance(uri, str) or not uri.startswith(PREFIX):
            raise InvalidInputError(f"{uri!r} is not a file:// URI",
                                    "write file:///absolute/path or file://path/in/project")
        rest = uri[len(PREFIX):]
        if rest.startswith("/"):
            return Path(os.path.normpath(rest))
        root = str(self.project_root)
        resolved = os.path.normpath(os.path.join(root, rest))
        if resolved != root and not resolved.startswith(root.rstrip(os.sep) + os.sep):
            raise InvalidInputError(
                f"storage URI {uri!r} points outside the project ({self.project_root})",
                "relative file:// URIs are inside the project; use file:///absolute/path for "
                "storage elsewhere")
        return Path(resolved)

    def _object(self, uri: str) -> Path:
        path = self.path(uri)
        if not path.is_file():
            what = "a directory, not an object" if path.is_dir() else "absent"
            raise NotFoundError(f"no object at {uri} ({path} is {what})",
                                "check the URI; list the prefix to see what is stored")
        return path

    def put(self, uri: str, src: Path | bytes) -> None:
        target = self.path(uri)
        if isinstance(src, Path | str) and not Path(src).is_file():
            raise NotFoundError(f"cannot store {src} at {uri}: no such file")
        if target.is_dir():
            raise InvalidInputError(f"cannot store an object at {uri}: {target} is a directory")
        write_atomic(target, src if isinstance(src, bytes | bytearray) else Path(src))

    def get(self, uri: str, dest: Path) -> Path:
        write_atomic(Path(dest), self._object(uri))
        return Path(dest)

    def open(self, uri: str) -> BinaryIO:
        path = self._object(uri)
        try:
            return open(path, "rb")
        except FileNotFoundError:  # deleted between the check and the open
            raise NotFoundError(f"no object at {uri}")

    def exists(self, uri: str) -> bool:
        return self.path(uri).is_file()

    def list(self, prefix: str) -> list[str]:
        """Object URIs starting with ``prefix`` (string prefix, like an object store)."""
        base = self.path(prefix)
        body = prefix[len(PREFIX):]
        if body.endswith("/") or base.is_dir():
            root, root_body, name = base, body.rstrip("/"), ""
        else:
            root, name = base.parent, base.name
            root_body = body[: len(body) - len(name)].rstrip("/")
        if root_body:
            head = f"{PREFIX}{root_body}/"
        else:
            head = f"{PREFIX}/" if body.startswith("/") else PREFIX
        if not root.is_dir():
            return []
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            if rel_dir == "." and name:
                dirnames[:] = [d for d in dirnames if d.startswith(name)]
                filenames = [f for f in filenames if f.startswith(name)]
            for fname in filenames:
                if fname.startswith(TMP_PREFIX):
                    continue
                rel = fname if rel_dir == "." else f"{rel_dir}/{fname}"
                found.append(head + rel)
        return sorted(found)

    def scan(self, prefix: str) -> builtins.list[StoredObject]:
        """Every object under the directory ``prefix`` with size and mtime, in one walk."""
        root = self.path(prefix.rstrip("/"))
        head = prefix.rstrip("/") + "/"
        out: builtins.list[StoredObject] = []
        stack = [(str(root), head)]
        while stack:
            folder, uri_head = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.name.startswith(TMP_PREFIX):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{uri_head}{entry.name}/"))
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                out.append(StoredObject(uri_head + entry.name, st.st_size, st.st_mtime))
        out.sort(key=lambda o: o.uri)
        return out

    def delete(self, uri: str) -> None:
        path = self.path(uri)
        if path.is_dir():
            raise InvalidInputError(f"cannot delete {uri}: {path} is a directory, not an object")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def local_path(self, uri: str) -> Path | None:
        path = self.path(uri)
        return path if path.is_file() else None
