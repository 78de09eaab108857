"""Workspace commands: ``workspace create|list|show|delete``, ``mount``, ``unmount``, ``save``,
``rollback``, ``diff``, ``history`` (``log``) and ``tag``.

Nothing heavy is imported at module level (not even argparse: ``goldfish save``'s short cut,
:mod:`goldfish.cli.fastpath`, calls :func:`cmd_save` without a parser); handlers import the
workspace service when they run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from goldfish.cli.common import add_json_flag, emit_json, open_project

if TYPE_CHECKING:
    import argparse

    from goldfish.workspaces import VersionInfo, WorkspaceInfo, Workspaces


def register(cli: argparse._SubParsersAction[Any]) -> None:
    ws = cli.add_parser("workspace", help="create, list, show or delete workspaces",
                        description="A workspace is a named line of work; its versions are "
                                    "snapshots of the slot it is mounted in.")
    ws_sub = ws.add_subparsers(dest="workspace_command", metavar="ACTION", required=True)

    create = ws_sub.add_parser("create", help="create a workspace (empty, forked, or imported)")
    create.add_argument("name", metavar="NAME", help="lowercase letters, digits, '.', '_', '-'")
    create.add_argument("--goal", default="", help="what this line of work tries to achieve")
    source = create.add_mutually_exclusive_group()
    source.add_argument("--from", dest="source", metavar="WS|VERSION",
                        help="fork another workspace's latest version or a version (ws-v3)")
    source.add_argument("--from-dir", metavar="DIR", help="import the files of DIR as version 1")
    create.add_argument("--mount", nargs="?", const="", default=None, metavar="SLOT",
                        help="mount it right away (into SLOT, default: the first free slot)")
    add_json_flag(create)
    create.set_defaults(handler=cmd_create)

    lst = ws_sub.add_parser("list", help="list workspaces, their slots and latest versions")
    add_json_flag(lst)
    lst.set_defaults(handler=cmd_list)

    show = ws_sub.add_parser("show", help="a workspace's goal, lineage, slot and versions")
    show.add_argument("name", metavar="NAME")
    add_json_flag(show)
    show.set_defaults(handler=cmd_show)

    delete = ws_sub.add_parser("delete", help="retire an unmounted workspace (versions are kept)",
                               description="Retire a workspace: it leaves listings; its versions, "
                                           "runs and tags are kept and stay resolvable. Refused "
                                           "for a mounted workspace or one runs or tags "
                                           "reference, unless --force.")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--force", action="store_true",
                        help="delete it although mounted (unsaved changes are saved first) or "
                             "referenced")
    delete.set_defaults(handler=cmd_delete)

    mount = cli.add_parser("mount", help="put a workspace's latest version into a slot")
    mount.add_argument("name", metavar="NAME")
    mount.add_argument("slot", nargs="?", default=None, metavar="SLOT",
                       help="w1, w2, … (default: the first free slot)")
    mount.set_defaults(handler=cmd_mount)

    unmount = cli.add_parser("unmount", help="save unsaved changes, then empty the slot")
    unmount.add_argument("target", metavar="SLOT|NAME")
    unmount.set_defaults(handler=cmd_unmount)

    save = cli.add_parser("save", help="snapshot a slot as a new version")
    save.add_argument("target", metavar="NAME|SLOT")
    save.add_argument("-m", "--message", required=True, help="what changed and why")
    add_json_flag(save)
    save.set_defaults(handler=cmd_save)

    rollback = cli.add_parser("rollback", help="restore an earlier version (recorded as a new one)")
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("version", metavar="VERSION", help="3, v3 or NAME-v3")
    rollback.set_defaults(handler=cmd_rollback)

    diff = cli.add_parser("diff", help="differences between versions and live slots",
                          description="A and B are versions (ws-v3, ws@latest, a tag), workspace "
                                      "names or slots (slot:w1, w1) — a mounted workspace means "
                                      "its live files. With only A: a live workspace against its "
                                      "latest version, a version against the one before it.")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", nargs="?", default=None, metavar="B")
    diff.add_argument("--stat", action="store_true", help="only the per-file summary")
    add_json_flag(diff)
    diff.set_defaults(handler=cmd_diff)

    for name, aliases in (("history", ["log"]),):
        history = cli.add_parser(name, aliases=aliases, help="the versions of a workspace")
        history.add_argument("name", metavar="NAME")
        add_json_flag(history)
        history.set_defaults(handler=cmd_history)

    tag = cli.add_parser("tag", help="name a version or a run (without arguments: list tags)")
    tag.add_argument("version", nargs="?", metavar="VERSION|RUN",
                     help="a version tag (ws-v3) or a run id (r-20260101-abc123)")
    tag.add_argument("tag_name", nargs="?", metavar="NAME")
    tag.add_argument("--note", default="", help="why this version deserves a name")
    add_json_flag(tag)
    tag.set_defaults(handler=cmd_tag)


def _service(args: argparse.Namespace) -> Workspaces:
    from goldfish.workspaces import Workspaces

    return Workspaces(open_project(args))


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _version_line(v: VersionInfo) -> str:
    message = f"  {v.message}" if v.message else ""
    return f"{v.tag:<24} {v.kind:<8} {_when(v.created_at)}  {v.commit[:10]}{message}"


# --- workspace --------------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    service = _service(args)
    from_workspace = from_version = None
    if args.source:
        db = service.project.db
        if db.one("SELECT 1 FROM workspaces WHERE name = ? AND deleted_at IS NULL",
                  (args.source,)):
            from_workspace = args.source
        else:
            from_version = args.source
    info = service.create(args.name, goal=args.goal, from_dir=args.from_dir,
                          from_workspace=from_workspace, from_version=from_version,
                          mount=args.mount)
    if args.json:
        emit_json(info.to_dict())
        return 0
    head = info.head.tag if info.head else "-"
    origin = f" from {info.parent}" if info.parent else (
        f" from {args.from_dir}" if args.from_dir else "")
    print(f"Created workspace {info.name}{origin} at {head}")
    if info.slot:
        print(f"  mounted in workspaces/{info.slot}")
    else:
        print(f"  next: goldfish mount {info.name}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    service = _service(args)
    infos = service.list()
    if args.json:
        emit_json({"workspaces": [i.to_dict() for i in infos], "slots": service.slot_map()})
        return 0
    if not infos:
        print("No workspaces yet. Create one: goldfish workspace create NAME --mount")
        return 0
    width = max(len("WORKSPACE"), *(len(i.name) for i in infos))
    print(f"{'WORKSPACE':<{width}}  SLOT  LATEST{' ' * 18} VERSIONS  GOAL")
    for i in infos:
        head = i.head.tag if i.head else "-"
        print(f"{i.name:<{width}}  {i.slot or '-':<4}  {head:<24} {i.version_count:>8}  {i.goal}")
    free = [s for s, w in service.slot_map().items() if w is None]
    print(f"free slots: {', '.join(free) or 'none'}")
    return 0


def _show(info: WorkspaceInfo) -> None:
    print(f"workspace {info.name}")
    if info.goal:
        print(f"  goal:     {info.goal}")
    print(f"  slot:     {'workspaces/' + info.slot if info.slot else '(not mounted)'}")
    print(f"  forked:   {info.parent or '(no parent)'}")
    print(f"  created:  {_when(info.created_at)}")
    print(f"  versions: {info.version_count}")
    for v in reversed(info.versions):
        print(f"    {_version_line(v)}")


def cmd_show(args: argparse.Namespace) -> int:
    info = _service(args).info(args.name)
    if args.json:
        emit_json(info.to_dict())
    else:
        _show(info)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    info = _service(args).delete(args.name, force=args.force)
    latest = f", latest {info.head.tag}" if info.head else ""
    print(f"Deleted workspace {info.name}; its versions are kept ({info.version_count}{latest})")
    return 0


# --- slots and versions -----------------------------------------------------------------------


def cmd_mount(args: argparse.Namespace) -> int:
    slot = _service(args).mount(args.name, args.slot)
    print(f"Mounted {args.name} in workspaces/{slot}")
    return 0


def cmd_unmount(args: argparse.Namespace) -> int:
    service = _service(args)
    version = service.unmount(args.target)
    saved = "saved unsaved changes as" if version.created else "latest version"
    print(f"Unmounted {version.workspace} ({saved} {version.tag})")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    version = _service(args).save_version(args.target, args.message)
    if args.json:
        emit_json(version.to_dict())
    elif version.created:
        print(f"Saved {version.tag} ({version.commit[:10]})")
    else:
        print(f"No changes since {version.tag}; nothing saved")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    version = _service(args).rollback(args.name, args.version)
    if version.created:
        print(f"Rolled {args.name} back: {version.tag} ({version.message})")
    else:
        print(f"{args.name} already matches {args.version}; nothing changed ({version.tag})")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    diff = _service(args).diff(args.a, args.b)
    if args.json:
        emit_json(diff.to_dict())
    elif not diff.changes:
        print(diff.summary)
    elif args.stat:
        print(diff.stat())
    else:
        print(diff.text(), end="")
        print(diff.summary)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    versions = _service(args).history(args.name)
    if args.json:
        emit_json([v.to_dict() for v in versions])
        return 0
    for v in reversed(versions):
        print(_version_line(v))
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    service = _service(args)
    if args.version is None:
        from goldfish.runs.records import run_tags

        tags = [{**t.to_dict(), "kind": "version"} for t in service.tags()]
        tags += run_tags(service.project)
        if args.json:
            emit_json(tags)
        elif not tags:
            print("No tags yet. Name a version or a run: goldfish tag ws-v3 baseline, "
                  "goldfish tag r-20260101-a1b2c3 best-so-far")
        for t in tags if not args.json else []:
            note = f"  {t['note']}" if t["note"] else ""
            print(f"{t['name']:<20} {t['kind']:<8} {t['target']:<24} "
                  f"{_when(t['created_at'])}{note}")
        return 0
    if args.tag_name is None:
        from goldfish.errors import InvalidInputError

        raise InvalidInputError("goldfish tag needs a VERSION and a NAME",
                                "e.g. `goldfish tag ws-v3 best`; without arguments it lists tags")
    from goldfish.runs.ids import RUN_ID

    if RUN_ID.match(args.version):
        from goldfish.runs.records import tag_run

        run_id = tag_run(service.project, args.version, args.tag_name, note=args.note)
        if args.json:
            emit_json({"name": args.tag_name, "kind": "run", "target": run_id})
        else:
            print(f"Tagged run {run_id} as {args.tag_name} (`goldfish runs --tag "
                  f"{args.tag_name}`)")
        return 0
    info = service.tag(args.version, args.tag_name, note=args.note)
    if args.json:
        emit_json(info.to_dict())
    else:
        print(f"Tagged {info.target} as {info.name}")
    return 0
