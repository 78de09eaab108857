"""Backups of a project's memory, and restoring them (``goldfish backup`` / ``goldfish restore``).

A backup holds the database (copied with SQLite's online backup API), the version store, the
runs' logs and metrics, ``goldfish.yaml``, ``STATE.md`` and — when the storage backend keeps
them on this machine — the stored outputs the database references. Files are stored by content
(sha256) at the destination, so a backup copies only what the previous ones do not hold: version
store objects, outputs and unchanged logs are never copied twice; the database is copied whole
each time (see docs/architecture.md, "Backup and restore"). A manifest per backup lists every
file with its size and sha256, the Goldfish version and the schema version.

Modules: :mod:`~goldfish.backup.dest` (where backups live), :mod:`~goldfish.backup.take`,
:mod:`~goldfish.backup.restore`, :mod:`~goldfish.backup.schedule` (before migrations, and on a
timer in long-lived processes).
"""

from goldfish.backup.dest import Destination, resolve
from goldfish.backup.restore import RestoreResult, restore
from goldfish.backup.take import BackupResult, last_backup, take

__all__ = ["BackupResult", "Destination", "RestoreResult", "last_backup", "resolve", "restore",
           "take"]
