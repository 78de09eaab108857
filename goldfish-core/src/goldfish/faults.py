"""Faults of the machine, named: a full disk, a read-only project, a damaged database or store.

These are not bugs in Goldfish and not mistakes in the user's input, so they get neither the
"internal error" text nor a validation message. :func:`name` turns the low-level exception
(``OSError`` with ``ENOSPC``/``EROFS``/``EACCES``, ``sqlite3.DatabaseError``, a dulwich or zlib
error from the version store) into a :class:`FaultError` that says what happened, to which file,
and what to do. It is applied at the two boundaries where errors leave Goldfish: the CLI's
top-level handler and the MCP tool wrapper. Code that knows the path better (opening the
database, reading an object) raises a :class:`FaultError` itself.

The database paths a process opened are remembered (:func:`note_database`), so an SQLite error,
which carries no file name, can still be reported with the path of the file it came from.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from goldfish.errors import GoldfishError

_DATABASES: list[Path] = []


class FaultError(GoldfishError):
    """The machine or a file Goldfish keeps is in a state Goldfish cannot work in."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None, *, kind: str = "fault") -> None:
        super().__init__(message, hint)
        self.kind = kind


def note_database(path: Path) -> None:
    """Remember that this process opened the database at ``path`` (for error messages)."""
    path = Path(path)
    if path not in _DATABASES:
        _DATABASES.append(path)


def _database() -> str:
    return str(_DATABASES[-1]) if _DATABASES else ".goldfish/goldfish.db"


def _where(path: str | os.PathLike[str] | None) -> str:
    return f" {os.fspath(path)!s}" if path else ""


# --- the named faults -------------------------------------------------------------------------


def disk_full(path: str | os.PathLike[str] | None, detail: str = "") -> FaultError:
    # a failed write() carries no file name: the project's .goldfish/ is the best guess
    folder = Path(path).parent if path else (Path(_database()).parent if _DATABASES else None)
    what = _where(path) or (f" to {folder}" if folder else "")
    return FaultError(
        f"disk full: cannot write{what}" + (f" ({detail})" if detail else ""),
        f"free space on the disk that holds {folder or 'the project'} (`df -h "
        f"{folder or '.'}`) and run the command again; the step that failed was not recorded",
        kind="disk_full")


def read_only(path: str | os.PathLike[str] | None) -> FaultError:
    return FaultError(
        f"read-only: cannot write{_where(path)}; the project's file system is mounted read-only",
        "remount it read-write, or copy the project to a writable place and work there; "
        "nothing was changed", kind="read_only")


def permission_denied(path: str | os.PathLike[str] | None) -> FaultError:
    return FaultError(
        f"permission denied:{_where(path) or ' a project file'}",
        f"check the owner and permissions (`ls -l {os.fspath(path) if path else '.goldfish'}`); "
        "run Goldfish as the user who owns the project", kind="permission")


def damaged_database(path: str | os.PathLike[str], detail: str) -> FaultError:
    return FaultError(
        f"the project database {os.fspath(path)} is damaged ({detail})",
        f"restore {Path(path).name} from a backup of .goldfish/ and run `goldfish doctor` "
        "(it prints the `goldfish restore` command for the latest backup); the saved versions (.goldfish/versions.git) and run outputs are kept apart and are "
        "not affected. Goldfish will not replace the file by an empty database",
        kind="database")


def missing_database(path: str | os.PathLike[str], state: str) -> FaultError:
    return FaultError(
        f"the project database {os.fspath(path)} is {state}, but the project has saved versions "
        f"({Path(path).parent / 'versions.git'}); opening it as a fresh project would lose "
        "every run, note and source",
        f"restore {Path(path).name} from a backup of .goldfish/ (`goldfish doctor` prints "
        "the `goldfish restore` command for the latest backup); "
        "Goldfish does not create an empty database next to existing versions",
        kind="database")


def damaged_store(detail: str, where: str | os.PathLike[str] | None = None) -> FaultError:
    place = f" {os.fspath(where)}" if where else " (.goldfish/versions.git)"
    return FaultError(
        f"the version store{place} is damaged: {detail}",
        "run `goldfish doctor` to list the damaged objects and refs; restore "
        ".goldfish/versions.git from a backup (versions whose objects are intact keep working)",
        kind="store")


def _read_only_fs(path: str | os.PathLike[str]) -> bool:
    try:
        return bool(os.statvfs(Path(path).parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _not_writable(path: str | os.PathLike[str]) -> Path | None:
    """The database file, or its folder (SQLite writes -wal/-shm files there), if this user
    cannot write it."""
    for candidate in (Path(path), Path(path).parent):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            return candidate
    return None


def _out_of_space(path: str | os.PathLike[str]) -> bool:
    import shutil

    try:
        return shutil.disk_usage(Path(path).parent).free < 64 * 1024
    except OSError:
        return False


# --- mapping at the boundary ------------------------------------------------------------------


_OS_FAULTS = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EFBIG: "disk_full",
              errno.EROFS: "read_only", errno.EACCES: "permission", errno.EPERM: "permission"}


def name(exc: BaseException) -> FaultError | None:
    """The named fault ``exc`` is, or None when it is something else (a bug, say)."""
    if isinstance(exc, FaultError):
        return exc
    if isinstance(exc, OSError):
        kind = _OS_FAULTS.get(exc.errno or 0)
        path = exc.filename
        if kind == "disk_full":
            return disk_full(path, exc.strerror or "")
        if kind == "read_only":
            return read_only(path)
        if kind == "permission":
            return permission_denied(path)
        return None
    import sqlite3

    if isinstance(exc, sqlite3.DatabaseError):
        return _sqlite(exc)
    return _store(exc)


def _sqlite(exc: BaseException, db_path: Path | None = None) -> FaultError | None:
    code = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc)
    path = str(db_path) if db_path is not None else _database()
    if code == "SQLITE_FULL" or "disk is full" in text:
        return disk_full(path, text)
    if code == "SQLITE_IOERR_SHORT_READ":  # pages the file should hold are not there
        return damaged_database(path, f"{text}: the file is shorter than SQLite expects")
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or text in (
            "file is not a database", "database disk image is malformed"):
        return damaged_database(path, text)
    if _read_only_fs(path):  # WAL mode cannot even open a database on a read-only mount
        return read_only(path)
    if code.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_CANTOPEN")) \
            or "readonly database" in text or "unable to open" in text:
        denied = _not_writable(path)
        if denied is not None:
            return permission_denied(denied)
    if code.startswith("SQLITE_READONLY") or "readonly database" in text:
        return FaultError(f"cannot write the project database {path} ({text})",
                          "check that the file and .goldfish/ are writable by you and that no "
                          "other program holds them read-only; `goldfish doctor` checks it",
                          kind="database")
    if code.startswith("SQLITE_CANTOPEN") or "unable to open database" in text:
        return FaultError(f"cannot open the project database {path} ({text})",
                          "check that .goldfish/ exists and is writable by you; `goldfish "
                          "doctor` checks it", kind="database")
    if code.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        if _out_of_space(path):  # SQLite says "I/O error" when the -shm file cannot grow
            return disk_full(path, text)
        return FaultError(f"the disk failed while reading or writing {path} ({text})",
                          "check the disk (`dmesg`, free space) and run the command again; "
                          "SQLite kept the database consistent", kind="io")
    return None


def _store(exc: BaseException) -> FaultError | None:
    import zlib

    module = type(exc).__module__ or ""
    if isinstance(exc, zlib.error) or (module.startswith("dulwich") and type(exc).__name__ in (
            "ObjectFormatException", "ChecksumMismatch", "FileFormatException",
            "NotCommitError", "NotTreeError", "NotBlobError", "ApplyDeltaError")):
        return damaged_store(f"{type(exc).__name__}: {exc}")
    return None


# --- opening the database ---------------------------------------------------------------------


def check_database_file(db_path: Path, repo_path: Path) -> None:
    """Refuse a missing or empty database next to an existing version store.

    SQLite would quietly create a fresh, empty database there, and the project would look new:
    every run, note and source gone from view, and the next writes mixing with old versions.
    """
    if not repo_path.is_dir():
        return
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        raise missing_database(db_path, "missing") from None
    except OSError:
        return  # unreadable: opening it reports the fault with its cause
    if size == 0:
        raise missing_database(db_path, "empty (zero bytes)")


@contextmanager
def naming(db_path: Path) -> Iterator[None]:
    """Inside: an SQLite error is reported as the named fault of the database at ``db_path``."""
    import sqlite3

    try:
        yield
    except sqlite3.DatabaseError as exc:
        fault = _sqlite(exc, db_path)
        if fault is None:
            raise
        raise fault from None
