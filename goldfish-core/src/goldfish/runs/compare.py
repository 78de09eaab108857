"""Compare two runs: config diff, code diff, pinned inputs that differ, metric deltas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from goldfish.runs.records import get_run

if TYPE_CHECKING:
    from goldfish.project import Project

_MISSING = "<absent>"


@dataclass
class Comparison:
    a: str
    b: str
    versions: tuple[str, str]
    config: list[dict[str, Any]] = field(default_factory=list)  # stage, key, a, b
    code_summary: str = ""
    code_diff: str = ""
    code_stat: str = ""
    inputs: list[dict[str, Any]] = field(default_factory=list)  # stage, input, a, b
    metrics: list[dict[str, Any]] = field(default_factory=list)  # stage, name, a, b, delta
    states: tuple[str, str] = ("", "")

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def render(self, *, code: bool = True) -> str:
        lines = [f"compare {self.a} ({self.versions[0]}, {self.states[0]}) → "
                 f"{self.b} ({self.versions[1]}, {self.states[1]})"]
        lines.append("config:" if self.config else "config: same")
        for c in self.config:
            lines.append(f"  {c['stage']}.{c['key']}: {c['a']} → {c['b']}")
        lines.append("inputs:" if self.inputs else "inputs: same")
        for i in self.inputs:
            lines.append(f"  {i['stage']}.{i['input']}: {i['a']} → {i['b']}")
        lines.append("metrics:" if self.metrics else "metrics: none recorded")
        for m in self.metrics:
            delta = f"{m['delta']:+.4g}" if m["delta"] is not None else "n/a"
            a = "-" if m["a"] is None else f"{m['a']:.4g}"
            b = "-" if m["b"] is None else f"{m['b']:.4g}"
            lines.append(f"  {m['stage']}.{m['name']}: {a} → {b} ({delta})")
        if self.versions[0] == self.versions[1]:
            lines.append("code: same version")
        else:
            lines.append(f"code: {self.code_summary or 'no file changes'}")
            if self.code_stat:
                lines.append(self.code_stat)
            if code and self.code_diff:
                lines.append(self.code_diff.rstrip())
        return "\n".join(lines)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def compare(project: Project, a_ref: str, b_ref: str, *, workspaces: Any = None) -> Comparison:
    a, b = get_run(project, a_ref), get_run(project, b_ref)
    out = Comparison(a=a.id, b=b.id, versions=(a.version, b.version), states=(a.state, b.state))
    a_stages = {s.stage: s for s in a.stages}
    b_stages = {s.stage: s for s in b.stages}
    names = list(dict.fromkeys([*a_stages, *b_stages]))
    for name in names:
        sa, sb = a_stages.get(name), b_stages.get(name)
        ca = _flatten(sa.config) if sa else {}
        cb = _flatten(sb.config) if sb else {}
        for key in sorted(set(ca) | set(cb)):
            va, vb = ca.get(key, _MISSING), cb.get(key, _MISSING)
            if va != vb:
                out.config.append({"stage": name, "key": key, "a": va, "b": vb})
        ia = sa.inputs if sa else {}
        ib = sb.inputs if sb else {}
        for key in sorted(set(ia) | set(ib)):
            da = (ia.get(key) or {}).get("digest")
            db = (ib.get(key) or {}).get("digest")
            if da != db:
                out.inputs.append({"stage": name, "input": key, "a": _pin_text(ia.get(key)),
                                   "b": _pin_text(ib.get(key))})
        ma = sa.metrics if sa else {}
        mb = sb.metrics if sb else {}
        for metric in sorted(set(ma) | set(mb)):
            va_ = (ma.get(metric) or {}).get("last")
            vb_ = (mb.get(metric) or {}).get("last")
            delta = vb_ - va_ if va_ is not None and vb_ is not None else None
            out.metrics.append({"stage": name, "name": metric, "a": va_, "b": vb_,
                                "delta": delta})
    if a.version != b.version and a.version and b.version:
        if workspaces is None:
            from goldfish.workspaces import Workspaces

            workspaces = Workspaces(project)
        try:
            diff = workspaces.diff(a.version, b.version)
            out.code_summary = str(diff.summary)
            out.code_stat = diff.stat() if diff.changes else ""
            out.code_diff = diff.text()
        except Exception as exc:  # a pruned version must not break the rest of the comparison
            out.code_summary = f"code diff unavailable: {exc}"
    return out


def _pin_text(pin: dict[str, Any] | None) -> str:
    if not pin:
        return _MISSING
    digest = str(pin.get("digest") or "")[:19]
    if pin.get("source"):
        return f"source:{pin['source']} ({digest})"
    if not pin.get("from_run"):  # the stage never got its inputs (an upstream stage failed)
        return f"{pin.get('from_stage')}.{pin.get('from_output')} (not produced)"
    return f"{pin.get('from_run')}/{pin.get('from_stage')}.{pin.get('from_output')} ({digest})"
