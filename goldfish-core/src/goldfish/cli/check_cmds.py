"""``goldfish findings``, ``goldfish patterns``, ``goldfish profiles``: the CLI side of the checks,
failure-pattern and compute tools that agents reach over MCP (same core services)."""

from __future__ import annotations

import argparse
from typing import Any

from goldfish.cli.common import add_json_flag, emit_json, open_project


def register(cli: argparse._SubParsersAction[Any]) -> None:
    findings = cli.add_parser(
        "findings", help="findings of checks and reviewers: blocking, then warnings",
        description="Blocking findings first, then warnings (newest first within each); the "
                    "checks that passed (info) are summarized in one line per output.")
    findings.add_argument("run", nargs="?", default=None, help="only this run (id, tag, @best)")
    findings.add_argument("--severity", choices=("info", "warning", "blocking"))
    findings.add_argument("--unseen", action="store_true",
                          help="only findings `goldfish status` has not shown yet")
    findings.add_argument("--limit", type=int, default=20)
    findings.add_argument("--all", action="store_true",
                          help="list passing checks (info) one by one too")
    add_json_flag(findings)
    findings.set_defaults(handler=cmd_findings)

    patterns = cli.add_parser("patterns", help="failure patterns: list, approve or reject")
    patterns.add_argument("action", nargs="?", choices=("list", "approve", "reject"),
                          default="list")
    patterns.add_argument("id", nargs="?", default=None, help="the pattern (approve/reject)")
    patterns.add_argument("--status", choices=("pending", "approved", "rejected"))
    patterns.add_argument("--prevention", default=None,
                          help="approve: what to do so it does not happen again")
    patterns.add_argument("--note", default="")
    add_json_flag(patterns)
    patterns.set_defaults(handler=cmd_patterns)

    profiles = cli.add_parser("profiles", help="compute profiles and installed backends")
    add_json_flag(profiles)
    profiles.set_defaults(handler=cmd_profiles)

    pool = cli.add_parser("pool", help="warm-pool workers: list them, or drain (delete) the "
                                       "idle ones",
                          description="Workers kept warm between jobs (gce.warm_pool). `drain` "
                                      "deletes every idle worker now and lists what it deleted; "
                                      "busy workers finish their jobs first.")
    pool.add_argument("action", nargs="?", choices=("list", "drain"), default="list")
    add_json_flag(pool)
    pool.set_defaults(handler=cmd_pool)


def cmd_findings(args: argparse.Namespace) -> int:
    from goldfish.orientation import list_findings, passed_findings

    project = open_project(args)
    items = list_findings(project, run=args.run, severity=args.severity, unseen=args.unseen,
                          limit=args.limit, include_info=args.all)
    passed: list[dict[str, Any]] = []
    total = 0
    if not (args.all or args.severity):
        passed, total = passed_findings(project, run=args.run, unseen=args.unseen,
                                        limit=args.limit)
    if args.json:
        emit_json({"findings": items, "passed": passed, "passed_total": total})
        return 0
    for f in items:
        where = "/".join(p for p in (f.get("stage"), f.get("signal")) if p)
        where = f" [{where}]" if where else ""
        print(f"{f['run']}  {f['severity']:<8} {f['check']}{where}: {f['message']}")
    for line in passed:
        print(f"passed   {line['text']}")
    if total > len(passed):
        print(f"passed   … {total - len(passed)} more outputs (--all lists every check)")
    if not items and not passed:
        print("no findings")
    return 0


def cmd_patterns(args: argparse.Namespace) -> int:
    from goldfish import patterns
    from goldfish.errors import InvalidInputError

    project = open_project(args)
    if args.action == "list":
        items = patterns.list_patterns(project, args.status)
        if args.json:
            emit_json([p.to_json() for p in items])
        else:
            print("\n".join(p.render() for p in items) or "no failure patterns")
        return 0
    if not args.id:
        raise InvalidInputError(f"`goldfish patterns {args.action}` needs the pattern's id",
                                "list them first: `goldfish patterns`")
    if args.action == "approve":
        p = patterns.approve(project, args.id, args.note, prevention=args.prevention)
    else:
        p = patterns.reject(project, args.id, args.note)
    if args.json:
        emit_json(p.to_json())
    else:
        print(p.render())
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    from goldfish.runs.backends import profiles_report
    from goldfish.runs.workers import pool_lines

    project = open_project(args)
    data = profiles_report(project)
    if args.json:
        emit_json(data)
        return 0
    profiles, sources, backends = data["profiles"], data["sources"], data["backends"]
    refused, live, pool = data["cannot_run"], data["running"], data["pool"]
    for name, profile in profiles.items():
        mark = "*" if name == data["default"] else " "
        backend = profile.get("backend")
        missing = "" if backend in backends else "  (backend not installed)"
        rest = ", ".join(f"{k}={v}" for k, v in profile.items() if k != "backend")
        print(f"{mark} {name:<14} {backend}{missing}" + (f"  {rest}" if rest else "")
              + f"  [{sources[name]}]")
        if name in refused:
            print(f"    {refused[name]['message']}")
            if refused[name]["hint"]:
                print(f"    hint: {refused[name]['hint']}")
    print(f"backends installed: {', '.join(sorted(backends)) or 'none'}")
    for item in live:
        if "error" in item:
            print(f"running ({item['profile']}): could not list: {item['error']}")
            continue
        price = item.get("hourly_usd")
        print(f"running: {item['name']} ({item['profile']}, {item.get('machine_type', '?')}"
              f"{' spot' if item.get('spot') else ''}, {item.get('zone', '?')}, "
              f"{item.get('status', '?').lower()})"
              + (f"  ${price:.2f}/h" if isinstance(price, int | float) else ""))
    for line in pool_lines(pool):
        print(line)
    return 0


def cmd_pool(args: argparse.Namespace) -> int:
    from goldfish.runs.backends import drain_pool
    from goldfish.runs.workers import pool_lines, report

    project = open_project(args)
    if args.action == "drain":
        drained = drain_pool(project)
        if args.json:
            emit_json({"drained": drained})
            return 0
        for w in drained:
            if "error" in w:
                print(f"could not drain {w['name']}: {w['error']}")
                continue
            price = w.get("hourly_usd")
            print(f"deleted {w['name']} ({w.get('profile') or '?'}, {w.get('zone') or '?'})"
                  + (f"  saves ${price:.2f}/h" if isinstance(price, int | float) else ""))
        if not drained:
            print("no idle workers to drain")
        return 0
    pool = report(project)
    if args.json:
        emit_json({"pool": pool})
        return 0
    print("\n".join(pool_lines(pool)) or "no warm-pool workers")
    return 0
