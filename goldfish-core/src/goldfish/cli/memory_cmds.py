"""Orientation and memory commands: ``status``, ``note``, ``recall``.

The same services answer the MCP tools of the same names (:mod:`goldfish.orientation`,
:mod:`goldfish.memory`), so a human and an agent see the same project.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from goldfish.cli.common import add_json_flag, emit_json, open_project


def register(cli: argparse._SubParsersAction[Any]) -> None:
    status = cli.add_parser(
        "status", help="where things stand: runs, new findings, best results, next actions",
        description="Goal and invariants, slots, active runs, findings not yet seen (each shown "
                    "once), runs awaiting a conclusion, best result per workspace with trend and "
                    "regressions, latest decisions and notes, and what to do next.")
    status.add_argument("--peek", action="store_true",
                        help="do not mark the new findings as seen")
    add_json_flag(status)
    status.set_defaults(handler=cmd_status)

    note = cli.add_parser("note", help="record a note, a decision or an open question")
    note.add_argument("text", metavar="TEXT")
    kind = note.add_mutually_exclusive_group()
    kind.add_argument("--decision", dest="kind", action="store_const", const="decision",
                      help="a choice made, and why")
    kind.add_argument("--question", dest="kind", action="store_const", const="question",
                      help="something still open")
    note.add_argument("--run", default=None, metavar="RUN", help="the run it is about")
    note.add_argument("--workspace", "-w", default=None)
    note.set_defaults(handler=cmd_note, kind="note")

    recall = cli.add_parser("recall", help="search notes, run reasons, conclusions, findings "
                                           "and failure patterns")
    recall.add_argument("query", metavar="QUERY", nargs="?", default="")
    recall.add_argument("--kind", action="append", default=None, dest="kinds",
                        choices=("note", "decision", "question", "run", "conclusion", "finding",
                                 "pattern"), help="only this kind (repeatable)")
    recall.add_argument("--workspace", "-w", default=None)
    recall.add_argument("--since-hours", type=float, default=None, metavar="N")
    recall.add_argument("--limit", type=int, default=10)
    add_json_flag(recall)
    recall.set_defaults(handler=cmd_recall)


def cmd_status(args: argparse.Namespace) -> int:
    from goldfish.orientation import orient

    project = open_project(args)
    o = orient(project, mark_seen=not args.peek)
    if args.json:
        emit_json(o.to_json())
    else:
        print(o.render())
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    from goldfish.memory import add_note

    project = open_project(args, reconcile=False)
    n = add_note(project, args.text, kind=args.kind, run=args.run, workspace=args.workspace)
    print(f"{n.kind} {n.id} recorded")
    return 0


def cmd_recall(args: argparse.Namespace) -> int:
    from goldfish.memory import recall

    project = open_project(args, reconcile=False)
    since = time.time() - args.since_hours * 3600 if args.since_hours else None
    hits = recall(project, args.query, kinds=args.kinds, workspace=args.workspace, since=since,
                  limit=args.limit)
    if args.json:
        emit_json([h.__dict__ for h in hits])
        return 0
    if not hits:
        print("nothing recorded matches" + (f" {args.query!r}" if args.query else ""))
    for h in hits:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(h.at)) if h.at else ""
        print(f"[{h.kind} {h.id}] {when} {h.text}")
    return 0
