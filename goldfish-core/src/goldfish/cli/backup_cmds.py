"""Backup commands: ``backup [DEST]``, ``backups [DEST]``, ``restore SRC [PATH]``.

Only argparse is imported at module level; handlers import :mod:`goldfish.backup` when they run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
from typing import Any

from goldfish.cli.common import add_json_flag, emit_json


def register(cli: argparse._SubParsersAction[Any]) -> None:
    backup = cli.add_parser(
        "backup", help="copy the project's memory (database, versions, logs, outputs) to DEST",
        description="A consistent, incremental copy of the project's memory, taken while other "
                    "Goldfish processes keep working. DEST: a folder, `storage:` (the project's "
                    "storage backend) or a storage URI; default: `backup.dest` in goldfish.yaml "
                    "or .goldfish/backups.")
    backup.add_argument("dest", nargs="?", default=None, metavar="DEST")
    backup.add_argument("--dry-run", action="store_true",
                        help="list what would be copied; copy nothing")
    backup.add_argument("--keep", type=_positive, default=None, metavar="N",
                        help="backups to keep at DEST (default: `backup.keep`, 7)")
    add_json_flag(backup)
    backup.set_defaults(handler=cmd_backup)

    backups = cli.add_parser("backups", help="list the backups at DEST (default: the project's)")
    backups.add_argument("dest", nargs="?", default=None, metavar="DEST")
    add_json_flag(backups)
    backups.set_defaults(handler=cmd_backups)

    restore = cli.add_parser(
        "restore", help="rebuild a project from a backup",
        description="Rebuild the project backed up at SRC (a backup folder or URI: its latest "
                    "backup; or one backup's manifests/<id>.json) in PATH (default: the current "
                    "directory). Every file is checked against the backup's checksums first.")
    restore.add_argument("src", metavar="SRC")
    restore.add_argument("path", nargs="?", default=".", metavar="PATH")
    restore.add_argument("--force", action="store_true",
                         help="restore over a non-empty PATH (replaced files are moved to "
                              ".goldfish/replaced/)")
    add_json_flag(restore)
    restore.set_defaults(handler=cmd_restore)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _dest_arg(dest: str | None) -> str | None:
    """A folder named on the command line is relative to the current directory."""
    if dest is None or "://" in dest or dest.startswith("storage:"):
        return dest
    return os.path.abspath(os.path.expanduser(dest))


def restore_command(source: str, root: str) -> str:
    return f"goldfish restore {shlex.quote(source)} {shlex.quote(root)} --force"


def cmd_backup(args: argparse.Namespace) -> int:
    from goldfish.backup import take
    from goldfish.cli.common import open_project
    from goldfish.snapshot import human_size as human

    project = open_project(args, reconcile=False)
    result = take(project, _dest_arg(args.dest), keep=args.keep, dry_run=args.dry_run)
    if args.json:
        emit_json(result.to_json())
        return 0
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    if result.dry_run:
        print(f"would back up {project.root} to {result.dest}: {result.files} files "
              f"({human(result.bytes)}), {result.copied_files} to copy "
              f"({human(result.copied_bytes)})")
        for path, size in result.to_copy[:50]:
            print(f"  {path}  {human(size)}")
        if len(result.to_copy) > 50:
            print(f"  … and {len(result.to_copy) - 50} more")
        return 0
    print(f"backup {result.id} of {project.root} -> {result.dest}")
    print(f"  {result.files} files ({human(result.bytes)}), copied {result.copied_files} "
          f"({human(result.copied_bytes)}) in {result.seconds:.2f}s; schema "
          f"{result.schema_version}; {counts}")
    if result.missing_outputs:
        print(f"  warning: {result.missing_outputs} stored output file(s) the database names "
              "are gone from storage and were not backed up")
    if result.pruned:
        print(f"  removed {len(result.pruned)} older backup(s) (keeping the newest "
              f"{args.keep or 'backup.keep'})")
    print(f"  restore: goldfish restore {shlex.quote(result.source)} PATH")
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    from goldfish.backup.dest import resolve
    from goldfish.backup.take import listing
    from goldfish.cli.common import open_project
    from goldfish.snapshot import human_size as human

    project = open_project(args, reconcile=False)
    dest = resolve(project, _dest_arg(args.dest))
    items = listing(dest)
    if args.json:
        emit_json({"dest": dest.label, "backups": items})
        return 0
    if not items:
        print(f"no backups at {dest.label} (take one with `goldfish backup`)")
        return 0
    print(f"backups at {dest.label}, newest first:")
    for i in items:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(i["created_at"]))
        print(f"  {i['id']}  {when}  {i['reason']:<10} {i['files']} files "
              f"{human(i['bytes'])}  schema {i['schema_version']}  runs "
              f"{i['counts'].get('runs', 0)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from goldfish.backup import restore
    from goldfish.snapshot import human_size as human

    src = args.src if "://" in args.src else os.path.abspath(os.path.expanduser(args.src))
    result = restore(src, args.path, force=args.force)
    if args.json:
        emit_json(result.to_json())
        return 0
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    print(f"restored backup {result.id} into {result.target}: {result.files} files "
          f"({human(result.bytes)}), checksums verified; {counts}")
    for slot, tag in sorted(result.slots.items()):
        print(f"  {slot}: {tag}")
    if result.replaced:
        print(f"  replaced files were moved to {result.replaced}")
    print(f"next: cd {shlex.quote(result.target)} && goldfish doctor")
    return 0
