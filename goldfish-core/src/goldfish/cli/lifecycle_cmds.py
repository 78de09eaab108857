"""Data lifecycle commands: ``gc``, ``prune``, ``du`` (:mod:`goldfish.lifecycle`).

The MCP tools of the same names call the same functions.
"""

from __future__ import annotations

import argparse
from typing import Any

from goldfish.cli.common import add_json_flag, emit_json, open_project


def register(cli: argparse._SubParsersAction[Any]) -> None:
    gc = cli.add_parser(
        "gc", help="remove stored objects nothing references; consolidate the version store",
        description="Mark every object a run, version, tag, source, pinned input or restorable "
                    "pruned record references, and remove the rest once older than the grace "
                    "period; consolidate the version store's packs; sweep crash leftovers in "
                    ".goldfish/tmp. Safe while runs are active.")
    gc.add_argument("--dry-run", action="store_true",
                    help="list what would go and the bytes freed; change nothing")
    gc.add_argument("--grace", default="1h", metavar="DURATION",
                    help="keep unreferenced objects younger than this (default 1h; e.g. 0, 30m, "
                         "2d): an output being stored right now is not referenced yet")
    gc.add_argument("--all", action="store_true", help="list every item, not the first 20")
    add_json_flag(gc)
    gc.set_defaults(handler=cmd_gc)

    prune = cli.add_parser(
        "prune", help="retire old runs and untagged versions (restorable for a window)",
        description="Drop runs that ended and untagged versions older than a limit and/or beyond "
                    "the newest N per workspace (retention: in goldfish.yaml, or the flags). "
                    "Never tagged ones, @best, runs concluded success, or anything a kept run "
                    "needs. Pruned records can be restored until the window passes.")
    prune.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                       help="records older than DAYS days (overrides retention.max_age_days)")
    prune.add_argument("--keep-last", type=int, default=None, metavar="N",
                       help="keep the newest N per workspace (overrides retention.keep_last)")
    prune.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    prune.add_argument("--restore", default=None, metavar="ID",
                       help="bring back a pruned run (id) or version (tag) instead")
    add_json_flag(prune)
    prune.set_defaults(handler=cmd_prune)

    du = cli.add_parser("du", help="what the store holds: by workspace, by run, reclaimable",
                        description="Walk the store: bytes by workspace and by run, the version "
                                    "store, run folders, tmp, restorable pruned records, and "
                                    "what gc and prune would free.")
    du.add_argument("--limit", type=int, default=10, help="runs listed (default 10)")
    add_json_flag(du)
    du.set_defaults(handler=cmd_du)


def cmd_gc(args: argparse.Namespace) -> int:
    from goldfish.lifecycle.gc import collect_garbage, parse_duration

    grace = parse_duration(args.grace)
    project = open_project(args)
    report = collect_garbage(project, dry_run=args.dry_run, grace=grace)
    if args.json:
        emit_json(report.to_json(limit=None))
    else:
        print(report.render(limit=len(report.items) if args.all else 20))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from goldfish.lifecycle.prune import prune, restore

    project = open_project(args)
    if args.restore:
        restored = restore(project, args.restore)
        if args.json:
            emit_json({"restored": restored})
        else:
            print("restored " + ", ".join(restored))
        return 0
    report = prune(project, older_than_days=args.older_than, keep_last=args.keep_last,
                   dry_run=args.dry_run)
    if args.json:
        emit_json(report.to_json())
    else:
        print(report.render())
    return 0


def cmd_du(args: argparse.Namespace) -> int:
    from goldfish.lifecycle.du import disk_usage

    project = open_project(args)
    report = disk_usage(project)
    if args.json:
        emit_json(report.to_json())
    else:
        print(report.render(limit=args.limit))
    return 0
