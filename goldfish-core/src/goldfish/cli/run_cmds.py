"""Run commands: ``run``, ``runs``, ``show``, ``logs``, ``cancel``, ``compare``, ``conclude``,
``sources`` and ``lineage``.

Only argparse is imported at module level; handlers import the run engine when they run.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from goldfish.cli.common import add_json_flag, emit_json, open_project
from goldfish.cli.common import ago as _ago
from goldfish.cli.common import fmt as _fmt

if TYPE_CHECKING:
    from goldfish.project import Project
    from goldfish.runs.engine import Progress
    from goldfish.runs.records import RunInfo


def register(cli: argparse._SubParsersAction[Any]) -> None:
    run = cli.add_parser(
        "run", help="run a workspace's pipeline from a fresh snapshot",
        description="Snapshot the slot, load pipeline.yaml and configs from the snapshot, plan "
                    "(stages whose code, config and inputs are unchanged are reused), review and "
                    "launch. Returns the run id at once unless --wait.")
    run.add_argument("target", nargs="?", default=None, metavar="WORKSPACE|SLOT",
                     help="what to run (default: the only mounted slot)")
    run.add_argument("-m", "--reason", default=None, metavar="TEXT",
                     help="why this run: what it tries (stored with the run)")
    run.add_argument("--hypothesis", default=None, help="what you expect and why")
    run.add_argument("--goal", default=None, help="the result that would count as success")
    run.add_argument("--set", dest="set_", action="append", default=[], metavar="STAGE.KEY=VALUE",
                     help="override a config key (repeatable); VALUE is parsed as YAML")
    run.add_argument("--input", dest="inputs", action="append", default=[],
                     metavar="STAGE.INPUT=SOURCE|RUN/STAGE.OUTPUT",
                     help="feed an input from a source or an earlier run's output (repeatable)")
    run.add_argument("--dry-run", action="store_true", help="show the plan; start nothing")
    run.add_argument("--wait", action="store_true", help="follow the run until it ends")
    run.add_argument("--no-cache", action="store_true", help="rerun every stage")
    run.add_argument("--rerun", action="append", default=[], metavar="STAGE",
                     help="rerun this stage even if it could be reused (repeatable)")
    add_json_flag(run)
    run.set_defaults(handler=cmd_run)

    runs = cli.add_parser("runs", help="list runs (filter, sort by a metric)")
    runs.add_argument("--workspace", "-w", default=None)
    runs.add_argument("--state", default=None,
                      help="queued, running, done, failed, cancelled, lost or active")
    runs.add_argument("--tag", default=None, help="e.g. @best or a tag you set")
    runs.add_argument("--sort", default=None, metavar="METRIC[:asc|desc]",
                      help="order by a metric's last value (e.g. accuracy:desc)")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--offset", type=int, default=0)
    add_json_flag(runs)
    runs.set_defaults(handler=cmd_runs)

    show = cli.add_parser("show", help="a run: reason, stages, metrics, outputs, findings")
    show.add_argument("run", metavar="RUN", help="run id, unique prefix, @best or latest")
    show.add_argument("--history", action="store_true", help="every state transition")
    show.add_argument("--all", action="store_true",
                      help="list passing checks (info) one by one, not one line per output")
    add_json_flag(show)
    show.set_defaults(handler=cmd_show)

    logs = cli.add_parser("logs", help="a stage's log (tail or follow)")
    logs.add_argument("ref", metavar="RUN[/STAGE]")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until it ends")
    logs.add_argument("--tail", type=int, default=None, metavar="N", help="only the last N lines")
    logs.set_defaults(handler=cmd_logs)

    cancel = cli.add_parser("cancel", help="stop a run (queued stages cancelled, running stopped)")
    cancel.add_argument("run", metavar="RUN")
    cancel.set_defaults(handler=cmd_cancel)

    compare = cli.add_parser("compare", help="config diff, code diff, inputs and metric deltas")
    compare.add_argument("a", metavar="A")
    compare.add_argument("b", metavar="B")
    compare.add_argument("--stat", action="store_true", help="no unified code diff")
    add_json_flag(compare)
    compare.set_defaults(handler=cmd_compare)

    conclude = cli.add_parser("conclude", help="record the verdict on a finished run")
    conclude.add_argument("run", metavar="RUN")
    conclude.add_argument("--outcome", required=True, choices=("success", "partial", "miss"))
    conclude.add_argument("--notes", default="", help="what was learned")
    conclude.add_argument("--metric", default=None, help="the metric judged (default: results spec)")
    conclude.add_argument("--force", action="store_true",
                          help="allow `success` on a run that ended failed, lost or cancelled")
    conclude.set_defaults(handler=cmd_conclude)

    sources = cli.add_parser("sources", help="named data sources (add, list, show, promote)")
    src = sources.add_subparsers(dest="sources_command", metavar="ACTION")
    add = src.add_parser("add", help="register a file or directory as a source")
    add.add_argument("name", metavar="NAME")
    add.add_argument("path", metavar="PATH")
    add.add_argument("--description", "-d", default="")
    add.add_argument("--type", default=None, choices=("npy", "csv", "json", "file", "directory"))
    add.add_argument("--replace", action="store_true", help="point NAME at new content")
    lst = src.add_parser("list", help="list sources")
    shw = src.add_parser("show", help="a source and the runs that read it")
    shw.add_argument("name", metavar="NAME")
    for action in (lst, shw):  # SUPPRESS: an action's default must not undo `sources --json`
        action.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help="print machine-readable JSON")
    promote = src.add_parser("promote", help="make a run's output a source")
    promote.add_argument("output", metavar="RUN/STAGE.OUTPUT")
    promote.add_argument("name", metavar="NAME")
    promote.add_argument("--description", "-d", default="")
    add_json_flag(sources)
    sources.set_defaults(handler=cmd_sources)

    lineage = cli.add_parser("lineage", help="where a run's inputs came from, or who used it")
    lineage.add_argument("ref", metavar="RUN[/STAGE] | source:NAME")
    lineage.add_argument("--down", action="store_true", help="consumers instead of origins")
    add_json_flag(lineage)
    lineage.set_defaults(handler=cmd_lineage)


# --- formatting ---------------------------------------------------------------------------------


def _metric_line(name: str, m: dict[str, Any]) -> str:
    return (f"{name} last {_fmt(m['last'])} (min {_fmt(m['min'])}, max {_fmt(m['max'])}, "
            f"n={m['count']}, {m.get('trend', '-')})")


def print_run(info: RunInfo, *, history: list[dict[str, Any]] | None = None,
              all_findings: bool = False) -> None:
    print(f"run {info.id}  {info.state}  {info.workspace} at {info.version}")
    for key in ("description", "hypothesis", "goal", "approach", "min_result"):
        if info.reason.get(key):
            print(f"  {key}: {info.reason[key]}")
    if info.error:
        print(f"  error: {info.error}")
    for s in info.stages:
        line = f"  {s.stage:<14} {s.state:<10}"
        if s.note and s.state in ("reused", "skipped", "queued"):
            line += f" {s.note}"
        print(line.rstrip())
        for name, m in s.metrics.items():
            print(f"      {_metric_line(name, m)}")
        for name, o in s.outputs.items():
            print(f"      output {name} ({o['type']}) {o['digest'][:19]}")
        if s.error and s.state in ("failed", "lost"):
            for err_line in s.error.splitlines()[-12:]:
                print(f"      | {err_line}")
    from goldfish.findings import by_severity, info_summary, is_passed_check

    for f in by_severity([f for f in info.findings if all_findings or not is_passed_check(f)]):
        where = "/".join(p for p in (f.get("stage"), f.get("signal")) if p)
        where = f"[{where}] " if where else ""
        print(f"  finding {f['severity']}: {where}{f['source']}.{f['check']}: {f['message']}")
    if not all_findings:
        for p in info_summary(info.findings):
            print(f"  passed: {p['text']}")
    for r in info.reviews:
        print(f"  review ({r['phase']}) {r['reviewer']}: {r['decision']} {r['summary']}".rstrip())
    if info.conclusion:
        c = info.conclusion
        value = f" {c['metric']}={_fmt(c['value'])}" if c.get("metric") else ""
        print(f"  conclusion: {c['outcome']}{value} {c['notes']}".rstrip())
    if info.tags:
        print(f"  tags: {', '.join(info.tags)}")
    for t in history or []:
        who = t["stage"] or "run"
        print(f"  {time.strftime('%H:%M:%S', time.localtime(t['at']))} {who:<14} "
              f"{t['from_state'] or '-'} → {t['to_state']}  {t['reason']}".rstrip())


def progress_printer(project: Project) -> Any:
    """A callback for ``Engine.wait`` that prints one line per state change, with metrics."""
    from goldfish.runs.records import metric_summaries

    def show(p: Progress) -> None:
        print(p.render(), flush=True)
        if p.stage and p.state in ("done", "reused"):
            metrics = metric_summaries(project, p.run_id).get(p.stage, {})
            for name, m in list(metrics.items())[:6]:
                print(f"{'':<14}   {_metric_line(name, m)}", flush=True)

    return show


# --- handlers -----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from goldfish.runs.engine import Engine, parse_set
    from goldfish.runs.records import get_run

    project = open_project(args)
    engine = Engine(project)
    common = {"reason": args.reason, "hypothesis": args.hypothesis, "goal": args.goal,
              "set_": parse_set(args.set_), "inputs": args.inputs, "force": args.no_cache,
              "rerun": args.rerun}
    if args.dry_run:
        plan = engine.run(args.target, dry_run=True, **common)
        if args.json:
            emit_json(plan.to_json())
        else:
            print(plan.render())
        return 0
    if args.wait:
        # --wait advances the run in this process (no driver: nothing to start, no lease to
        # share); a driver takes over when the wait is interrupted or has lasted a while.
        from goldfish.runs import driver

        run_id = engine.run(args.target, detach=False, **common)
        if not args.json:
            print(f"run {run_id} started", flush=True)
        try:
            with _interrupt_on_hangup():
                state = engine.wait(run_id, on_progress=None if args.json else
                                    progress_printer(project), detach_after=DETACH_AFTER)
        except KeyboardInterrupt:
            driver.ensure(project, run_id)
            print(f"stopped watching; run {run_id} goes on (stages run detached). Follow it with "
                  f"`goldfish show {run_id}`, stop it with `goldfish cancel {run_id}`",
                  file=sys.stderr if args.json else sys.stdout)
            return 130
    else:
        run_id = engine.run(args.target, **common)
        state = get_run(project, run_id).state
    info = get_run(project, run_id)
    if args.json:
        emit_json(info.to_json())
    elif args.wait:
        print_result(info)
    else:
        print(f"run {run_id} {state}; follow it with `goldfish show {run_id}` or "
              f"`goldfish logs {run_id} --follow`")
    return 0 if (not args.wait or state == "done") else 1


#: Seconds ``run --wait`` waits before it starts the run's driver as well, so a long run goes on
#: when this process is killed (SIGKILL, a crashed terminal) and nobody runs another command.
DETACH_AFTER = 10.0


@contextlib.contextmanager
def _interrupt_on_hangup() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) end the wait like Ctrl-C: the driver takes over."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def print_result(info: RunInfo) -> None:
    reused = [s.stage for s in info.stages if s.state == "reused"]
    if reused:
        print(f"reused {len(reused)} of {len(info.stages)} stages ({', '.join(reused)}): same "
              "code, config and inputs")
    print(f"run {info.id} {info.state}")
    if info.error:
        print(f"error: {info.error}")
    results = info.results or {}
    if results.get("metric"):
        value = info.metric(str(results["metric"]))
        if value is not None:
            print(f"{results['metric']}: {value:.4g}")


def cmd_runs(args: argparse.Namespace) -> int:
    from goldfish.runs.records import list_runs

    project = open_project(args)
    rows = list_runs(project, workspace=args.workspace, state=args.state, tag=args.tag,
                     sort=args.sort, limit=args.limit, offset=args.offset)
    if args.json:
        emit_json([r.__dict__ for r in rows])
        return 0
    if not rows:
        print("no runs" + (" match" if args.workspace or args.state or args.tag else " yet"))
        return 0
    for r in rows:
        metric = f" {_fmt(r.metric)}" if r.metric is not None else ""
        extra = " ".join(filter(None, [r.outcome or "", ",".join(r.tags)]))
        print(f"{r.id}  {r.state:<9} {r.version:<16} {_ago(r.created_at):<8}{metric}  "
              f"{r.description[:50]}  {extra}".rstrip())
    if len(rows) == args.limit:
        print(f"(more: --offset {args.offset + args.limit})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from goldfish.runs.records import get_run, transitions

    project = open_project(args)
    info = get_run(project, args.run)
    history = transitions(project, info.id) if args.history else None
    if args.json:
        data = info.to_json()
        if history is not None:
            data["transitions"] = history
        emit_json(data)
    else:
        print_run(info, history=history, all_findings=args.all)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from goldfish.runs.ids import parse_ref
    from goldfish.runs.logs import read_log

    project = open_project(args)
    if args.follow and parse_ref(args.ref).stage is None:
        return _follow_run(project, args.ref)
    if not args.follow or args.tail is not None:
        first = read_log(project, args.ref, tail=args.tail, max_chars=1 << 30)
        sys.stdout.write(first.text)
        if not args.follow:
            return 0
    _follow_stage(project, args.ref, first.cursor if args.tail is not None else 0)
    return 0


def _follow_stage(project: Project, ref: str, cursor: int = 0) -> None:
    """Stream one stage's log until it ends, moving its run along meanwhile."""
    from goldfish.runs.engine import Engine
    from goldfish.runs.logs import read_log
    from goldfish.runs.records import get_run
    from goldfish.runs.states import FINAL_STAGE

    engine = Engine(project)
    while True:
        chunk = read_log(project, ref, cursor=cursor, max_chars=1 << 20)
        if chunk.text:
            sys.stdout.write(chunk.text)
            sys.stdout.flush()
        cursor = chunk.cursor
        if chunk.complete:
            break
        if not chunk.truncated:
            engine.advance(chunk.run)
            time.sleep(0.2)
    # The log is complete once the stage process ended; its final state comes when whoever
    # holds the run (this process, or the run's driver) has finished it.
    deadline = time.monotonic() + 30.0
    while True:
        engine.advance(chunk.run)
        state = get_run(project, chunk.run).stage(chunk.stage).state
        if state in FINAL_STAGE or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print(f"[{chunk.run}/{chunk.stage} {state}]", file=sys.stderr)


def _follow_run(project: Project, ref: str) -> int:
    """Follow every stage of a run in pipeline order, each from its first line, until the run
    ends; stages that never launch (reused, skipped, cancelled) are named, not waited for."""
    from goldfish.runs.engine import Engine
    from goldfish.runs.records import get_run, resolve_run
    from goldfish.runs.states import FINAL_STAGE

    run_id = resolve_run(project, ref)
    engine = Engine(project)
    order = [s.stage for s in get_run(project, run_id).stages]
    for stage in order:
        while True:
            info = get_run(project, run_id).stage(stage)
            if info.started_at or info.state in FINAL_STAGE:
                break
            engine.advance(run_id)
            time.sleep(0.2)
        if not info.started_at:
            print(f"[{run_id}/{stage} {info.state}]", file=sys.stderr)
            continue
        print(f"== {run_id}/{stage} ==", file=sys.stderr)
        _follow_stage(project, f"{run_id}/{stage}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from goldfish.runs.engine import Engine
    from goldfish.runs.records import resolve_run

    project = open_project(args)
    run_id = resolve_run(project, args.run)
    state = Engine(project).cancel(run_id)
    print(f"run {run_id} {state}" + ("" if state == "cancelled" else " (stopping)"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from goldfish.runs.compare import compare

    project = open_project(args)
    result = compare(project, args.a, args.b)
    if args.json:
        emit_json(result.to_json())
    else:
        print(result.render(code=not args.stat))
    return 0


def cmd_conclude(args: argparse.Namespace) -> int:
    from goldfish.runs.records import conclude

    project = open_project(args)
    result = conclude(project, args.run, args.outcome, args.notes, args.metric, force=args.force)
    value = f" ({result['metric']}={_fmt(result['value'])})" if result["metric"] else ""
    forced = f" (forced: the run ended {result['state']})" if result["forced"] else ""
    print(f"run {result['run_id']} concluded: {result['outcome']}{value}{forced}")
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from goldfish.errors import InvalidInputError
    from goldfish.runs import sources
    from goldfish.runs.ids import parse_ref
    from goldfish.runs.records import lineage

    project = open_project(args)
    action = args.sources_command or "list"
    as_json = getattr(args, "json", False)
    if action == "add":
        s = sources.register_source(project, args.name, args.path, args.description, args.type,
                                    replace=args.replace)
        print(f"source {s.name} ({s.type}, {s.size} bytes) {s.digest[:19]}")
        return 0
    if action == "promote":
        r = parse_ref(args.output, what="output")
        if not r.stage or not r.output:
            raise InvalidInputError(f"{args.output!r} must be RUN/STAGE.OUTPUT",
                                    "e.g. r-20260101-a1b2c3/prepare.train")
        s = sources.promote_output(project, r.run, r.stage, r.output, args.name,
                                   args.description)
        print(f"source {s.name} ({s.type}) from {s.origin}")
        return 0
    if action == "show":
        s = sources.get_source(project, args.name)
        users = lineage(project, f"source:{s.name}", "down")
        if as_json:
            emit_json({**s.to_json(), "consumers": users})
            return 0
        print(f"source {s.name}  {s.type}  {s.size} bytes  {s.digest}")
        print(f"  origin: {s.origin}")
        if s.description:
            print(f"  description: {s.description}")
        for e in users:
            print(f"  {e['from']} → {e['to']}")
        return 0
    items = sources.list_sources(project)
    if as_json:
        emit_json([s.to_json() for s in items])
        return 0
    if not items:
        print("no sources; register one with `goldfish sources add NAME PATH`")
    for s in items:
        print(f"{s.name:<20} {s.type:<9} {s.size:>10}  {s.digest[:19]}  {s.description}")
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from goldfish.runs.records import lineage, no_lineage

    project = open_project(args)
    direction = "down" if args.down else "up"
    edges = lineage(project, args.ref, direction)
    if args.json:
        emit_json(edges)
        return 0
    if not edges:
        print(no_lineage(project, args.ref, direction, down="--down"))
    for e in edges:
        print(f"{e['from']} → {e['to']}  {e['digest'][:19]}")
    return 0
