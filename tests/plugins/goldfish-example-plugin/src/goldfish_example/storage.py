"""The ``dir://`` storage backend: ``dir://a/b`` is the file ``<root>/a/b``.

Written from the storage contract alone: atomic puts (temp file + rename, temp files never
listed), recursive sorted listing, NotFoundError for missing objects.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from goldfish.errors import InvalidInputError, NotFoundError

from goldfish_example.settings import DirSettings

TMP = ".tmp-"


class DirStorage:
    scheme = "dir"

    def __init__(self, project_root: Path, config: dict[str, Any]) -> None:
        root = Path(DirSettings.model_validate(config).root).expanduser()
        self.root = root if root.is_absolute() else Path(project_root) / root

    def path(self, uri: str) -> Path:
        if not uri.startswith("dir://"):
            raise InvalidInputError(f"{uri!r} is not a dir:// URI")
        rel = uri[len("dir://"):].strip("/")
        if ".." in rel.split("/"):
            raise InvalidInputError(f"{uri!r} climbs out of the storage root with '..'")
        return self.root / rel

    def put(self, uri: str, src: Path | bytes) -> None:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{TMP}{uuid.uuid4().hex}")
        try:
            if isinstance(src, bytes):
                tmp.write_bytes(src)
            else:
                shutil.copyfile(src, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, uri: str, dest: Path) -> Path:
        source = self.path(uri)
        if not source.is_file():
            raise NotFoundError(f"no object at {uri}")
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        return Path(dest)

    def open(self, uri: str) -> BinaryIO:
        try:
            return open(self.path(uri), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"no object at {uri}") from None

    def exists(self, uri: str) -> bool:
        return self.path(uri).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        if base.is_file():
            return [prefix]
        found = [p for p in base.rglob("*") if p.is_file() and not p.name.startswith(TMP)]
        return sorted("dir://" + p.relative_to(self.root).as_posix() for p in found)

    def delete(self, uri: str) -> None:
        self.path(uri).unlink(missing_ok=True)

    def local_path(self, uri: str) -> Path | None:
        path = self.path(uri)
        return path if path.is_file() else None
