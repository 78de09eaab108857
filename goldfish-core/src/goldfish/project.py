"""A Goldfish project on disk: discovery, paths, the database and the event bus.

Layout::

    goldfish.yaml  STATE.md  workspaces/w1 …  .goldfish/{goldfish.db, versions.git, runs/, cache/}
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish import faults
from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    import sqlite3

    from goldfish.configcache import ProjectConfig
    from goldfish.db import Database
    from goldfish.events import Event
    from goldfish.plugins import Plugins

CONFIG_FILE = "goldfish.yaml"
STATE_FILE = "STATE.md"
GOLDFISH_DIR = ".goldfish"
SLOTS_DIR = "workspaces"


class Project:
    def __init__(self, root: Path, plugins: Plugins | None = None) -> None:
        self.root = Path(root).resolve()
        self._plugins = plugins
        self._pending = threading.local()

    # --- paths ----------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

    @property
    def goldfish_dir(self) -> Path:
        return self.root / GOLDFISH_DIR

    @property
    def db_path(self) -> Path:
        return self.goldfish_dir / "goldfish.db"

    @property
    def repo_path(self) -> Path:
        return self.goldfish_dir / "versions.git"

    @property
    def runs_dir(self) -> Path:
        return self.goldfish_dir / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.goldfish_dir / "cache"

    @property
    def slots_dir(self) -> Path:
        return self.root / SLOTS_DIR

    def slot_path(self, slot: str) -> Path:
        return self.slots_dir / slot

    def inside(self, path: str | os.PathLike[str], *, what: str = "path",
               base: Path | None = None) -> Path:
        """Resolve ``path`` (relative to ``base`` or the root) and refuse anything outside."""
        base = base or self.root
        raw = Path(path)
        resolved = (raw if raw.is_absolute() else base / raw).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidInputError(
                f"{what} {str(path)!r} points outside the project ({self.root})",
                "use a path inside the project directory")
        return resolved

    # --- services -------------------------------------------------------------------------
    @property
    def plugins(self) -> Plugins:
        if self._plugins is None:
            from goldfish.plugins import get_plugins

            self._plugins = get_plugins()
        return self._plugins

    @cached_property
    def db(self) -> Database:
        from goldfish.db import Database

        faults.check_database_file(self.db_path, self.repo_path)
        db = Database(self.db_path)
        with faults.naming(self.db_path):
            db.migrate(before=self._before_migration)
        return db

    def _before_migration(self, current: int, latest: int) -> None:
        from goldfish.backup.schedule import before_migration

        before_migration(self, current, latest)

    @cached_property
    def config(self) -> ProjectConfig:
        """``goldfish.yaml``, validated, or its recorded validation when nothing it depends on
        changed (see :mod:`goldfish.configcache`)."""
        from goldfish import configcache

        cache_dir = self.cache_dir if self.goldfish_dir.is_dir() else None
        return configcache.load(self.config_path, self.plugins, cache_dir)

    def reload_config(self, *, cached: bool = True) -> ProjectConfig:
        """Read ``goldfish.yaml`` again; ``cached=False`` validates it for real, whatever is
        recorded."""
        self.__dict__.pop("config", None)
        if not cached:
            from goldfish.config import load_config

            self.__dict__["config"] = load_config(self.config_path, self.plugins)
        return self.config

    # --- transactions and events ----------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; events emitted inside are published after it commits."""
        outer = not self.db.conn.in_transaction
        if outer:
            self._pending.events = []
        try:
            with self.db.tx() as conn:
                yield conn
        except BaseException:
            if outer:
                self._pending.events = []
            raise
        if outer:
            events, self._pending.events = self._pending.events, []
            deferred = getattr(self._pending, "deferred", None)
            if deferred is not None:
                deferred.extend(events)
            else:
                self._publish_all(events)

    @contextmanager
    def deferred_events(self) -> Iterator[None]:
        """Events committed inside are published when the block ends, in order, as one batch;
        a memory store can render once for the batch (see :attr:`more_events`). A rendering
        per event made a 500-stage run's cost a STATE.md rewrite per stage."""
        if getattr(self._pending, "deferred", None) is not None:
            yield
            return
        self._pending.deferred = []
        try:
            yield
        finally:
            events, self._pending.deferred = self._pending.deferred, None
            self._publish_all(events)

    @property
    def more_events(self) -> bool:
        """True while an event being published is followed by more of the same batch."""
        return bool(getattr(self._pending, "more", 0))

    def _publish_all(self, events: list[Event]) -> None:
        try:
            for i, event in enumerate(events):
                self._pending.more = len(events) - 1 - i
                self._publish(event)
        finally:
            self._pending.more = 0

    def emit(self, kind: str, subject: str = "", summary: str = "", **data: Any) -> Event:
        """Record an event; inside :meth:`tx` it commits with the transaction."""
        from goldfish.events import Event, insert

        with self.tx() as conn:
            event = insert(conn, Event(kind=kind, subject=subject, summary=summary, data=data))
            self._pending.events.append(event)
        return event

    def _publish(self, event: Event) -> None:
        import sys

        for failure in self.plugins.record_event(event, self):
            print(f"goldfish: warning: memory plugin {failure.name} failed: {failure.error}",
                  file=sys.stderr)

    # --- discovery ------------------------------------------------------------------------
    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None,
             explicit: str | os.PathLike[str] | None = None,
             plugins: Plugins | None = None) -> Project:
        """The project at ``explicit`` or the nearest one at or above ``start`` (default: cwd).

        ``GOLDFISH_PROJECT`` is used when neither is given.
        """
        explicit = explicit or os.environ.get("GOLDFISH_PROJECT") or None
        if explicit is not None:
            root = Path(explicit).expanduser().resolve()
            if not (root / CONFIG_FILE).is_file():
                raise NotFoundError(f"no Goldfish project at {root} (no {CONFIG_FILE})",
                                    "check --project, or create one with `goldfish init`")
            return cls(root, plugins)
        here = Path(start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / CONFIG_FILE).is_file() and (candidate / GOLDFISH_DIR).is_dir():
                return cls(candidate, plugins)
        raise NotFoundError(f"no Goldfish project in {here} or any parent directory",
                            "run `goldfish init` to create one, or pass --project PATH")

    def check_initialized(self) -> None:
        if not self.goldfish_dir.is_dir():
            raise GoldfishError(f"{self.root} has {CONFIG_FILE} but no {GOLDFISH_DIR}/ directory",
                                "the project is incomplete; re-create it with `goldfish init`")
