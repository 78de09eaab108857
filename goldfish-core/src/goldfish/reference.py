"""Generated references: the hook reference in ``docs/plugins.md`` and ``docs/config.md``.

Both are rendered from the code (the hook specs; the registered config models) so the docs cannot
drift; tests regenerate them and compare. Regenerate with::

    python -m goldfish.reference            # rewrite the docs
    python -m goldfish.reference --check    # exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import typing
from pathlib import Path
from typing import Any

HOOKS_BEGIN = "<!-- BEGIN GENERATED HOOK REFERENCE (python -m goldfish.reference) -->"
HOOKS_END = "<!-- END GENERATED HOOK REFERENCE -->"
CONFIG_BEGIN = "<!-- BEGIN GENERATED CONFIG REFERENCE (python -m goldfish.reference) -->"
CONFIG_END = "<!-- END GENERATED CONFIG REFERENCE -->"

#: Plugins that exist only to test Goldfish; their sections are not documented.
TEST_PLUGINS = frozenset({"example", "broken", "misspelt", "badargs", "typos"})


def docs_dir() -> Path:
    """``docs/`` of the source checkout this module lives in."""
    return Path(__file__).resolve().parents[3] / "docs"


def hook_specs() -> list[tuple[str, Any]]:
    """(name, function) of every hook spec, in the order of ``hookspecs.py``."""
    from goldfish import hookspecs

    out = []
    for name, fn in vars(hookspecs).items():
        if inspect.isfunction(fn) and hasattr(fn, "goldfish_spec"):
            out.append((name, fn))
    return out


def hook_signature(fn: Any) -> str:
    sig = inspect.signature(fn)
    params = []
    for p in sig.parameters.values():
        note = p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(
            p.annotation)
        params.append(f"{p.name}: {note}" if p.annotation is not inspect.Parameter.empty
                      else p.name)
    ret = sig.return_annotation
    ret_text = ret if isinstance(ret, str) else inspect.formatannotation(ret)
    return f"def {fn.__name__}({', '.join(params)}) -> {ret_text}"


def render_hooks() -> str:
    lines = []
    for name, fn in hook_specs():
        opts = fn.goldfish_spec
        flags = " *(first result wins)*" if opts.get("firstresult") else ""
        lines += [f"### `{name}`{flags}", "", "```python", hook_signature(fn), "```", "",
                  inspect.cleandoc(fn.__doc__ or "(undocumented)"), ""]
    return "\n".join(lines).rstrip() + "\n"


def documented_plugins() -> Any:
    """The built-ins plus installed plugins, without the test-only ones."""
    from goldfish.plugins import build

    plugins = build()
    for name in TEST_PLUGINS:
        if plugins.pm.has_plugin(name):
            plugins.unregister(name)
    return plugins


def render_config(plugins: Any = None) -> str:
    from goldfish import config as config_module
    from goldfish.plugins import resolve

    plugins = plugins or documented_plugins()
    registries = plugins.registries
    out: list[str] = []
    owners = _section_owners(plugins)
    for section, model in registries.config_sections.items():
        tp = resolve(model)
        owner = owners.get(section, "?")
        out += [f"### `{section}`", "", f"*Registered by* `{owner}`.", ""]
        info = config_module.field_info(tp)
        if info is not None:
            out += [_describe(section, typing.get_args(tp)[0], info), ""]
        rows = list(config_module.iter_keys(tp, section))
        if rows:
            out += [*_key_table(rows), ""]
    out += ["### Backend-specific profile keys", "",
            "Beyond the common keys of a profile, each compute backend accepts the keys of its "
            "registered config model.", ""]
    for name, spec in sorted(registries.compute.items()):
        model = resolve(spec.config_model) if spec.config_model is not None else None
        rows = list(config_module.iter_keys(model, "profiles.<name>")) if model else []
        out.append(f"- `backend: {name}` (from `{spec.plugin}`)"
                   + ("" if rows else ": no extra keys"))
        if rows:
            out += ["", *_key_table(rows, "  "), ""]
    if out[-1]:
        out.append("")
    out += ["### Storage backend settings", "",
            "With the mapping form `storage: {uri: ..., <settings>}`, the keys beside `uri` are "
            "checked against the settings model the URI scheme's backend registered.", ""]
    for scheme, sspec in sorted(registries.storage.items()):
        model = resolve(sspec.config_model) if sspec.config_model is not None else None
        rows = list(config_module.iter_keys(model, "storage")) if model else []
        out.append(f"- `{scheme}://` (from `{sspec.plugin}`)" + ("" if rows else ": no settings"))
        if rows:
            out += ["", *_key_table(rows, "  "), ""]
    return "\n".join(out).rstrip() + "\n"


def _key_table(rows: list[tuple[str, Any, Any]], indent: str = "") -> list[str]:
    """The markdown table of config keys (key, type, default, description), each line indented."""
    out = [f"{indent}| key | type | default | description |", f"{indent}|---|---|---|---|"]
    for key, annotation, fld in rows:
        out.append(f"{indent}| `{key}` | {_type_name(annotation)} | {_default(fld)} | "
                   f"{(fld.description if fld else '') or ''} |")
    return out


def _section_owners(plugins: Any) -> dict[str, str]:
    owners: dict[str, str] = {}
    for impl in plugins.pm.hook.register_config_sections.get_hookimpls():
        def record(section: str, model: Any, _p: str = impl.plugin_name) -> None:
            owners.setdefault(section, _p)
        impl.function(**{k: v for k, v in {"register": record}.items() if k in impl.argnames})
    return owners


def _describe(section: str, annotation: Any, info: Any) -> str:
    return (f"`{section}`: {_type_name(annotation)}, default {_default(info)}. "
            f"{info.description or ''}").rstrip()


def _default(info: Any) -> str:
    from pydantic_core import PydanticUndefined

    if info is None:
        return "—"
    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if hasattr(value, "model_dump"):
        return "see below"
    try:
        return f"`{json.dumps(value)}`"
    except TypeError:
        return f"`{value!r}`"


def _type_name(annotation: Any) -> str:
    text = inspect.formatannotation(annotation)
    for prefix in ("goldfish.config.", "typing."):
        text = text.replace(prefix, "")
    return text.replace("|", "\\|")


def replace_between(text: str, begin: str, end: str, body: str) -> str:
    if begin not in text or end not in text:
        raise ValueError(f"markers {begin!r} … {end!r} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n\n{body}\n{end}{tail}"


def expected_docs(folder: Path | None = None) -> dict[Path, str]:
    """What each generated doc file should contain."""
    folder = folder or docs_dir()
    plugins_md = folder / "plugins.md"
    config_md = folder / "config.md"
    return {
        plugins_md: replace_between(plugins_md.read_text(encoding="utf-8"), HOOKS_BEGIN,
                                    HOOKS_END, render_hooks()),
        config_md: replace_between(config_md.read_text(encoding="utf-8"), CONFIG_BEGIN,
                                   CONFIG_END, render_config()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m goldfish.reference",
                                     description="Regenerate docs/plugins.md and docs/config.md.")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--docs", type=Path, default=None, help="docs directory")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_docs(args.docs).items():
        if path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    verb = "stale" if args.check else "regenerated"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if (stale and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
