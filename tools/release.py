"""Cut, check and build a release of every Goldfish package (see "Releases" in the README).

    uv run python tools/release.py cut 0.2.0        # VERSION, member pins, CHANGELOG.md section
    uv run python tools/release.py check v0.2.0     # the tag, VERSION and CHANGELOG.md agree
    uv run python tools/release.py build            # dist/: every member's sdist and wheel

The packages are the root pyproject's workspace members without the test plugins, so a member
added to the workspace is released with the others. All of them carry the version in the root
``VERSION`` file (hatchling reads it) and require each other within that minor version.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

from goldfish.errors import GoldfishError
from goldfish.scaffold import compatible
from goldfish.testing.install import build_dists, workspace_members

ROOT = Path(__file__).resolve().parents[1]
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)((?:a|b|rc)\d+)?")
_UNRELEASED = "## [Unreleased]"


def parse(version: str, what: str = "the version") -> tuple[int, int, int, str]:
    match = _VERSION.fullmatch(version)
    if match is None:
        raise GoldfishError(f"{what} {version!r} is not MAJOR.MINOR.PATCH (optionally with a, b "
                            "or rc and a number)", "for example: 0.2.0, 1.0.0rc1")
    return int(match[1]), int(match[2]), int(match[3]), match[4] or ""


def _order(version: str) -> tuple[int, int, int, bool, str]:
    major, minor, patch, pre = parse(version)
    return major, minor, patch, not pre, pre  # 1.0.0rc1 < 1.0.0


def current(root: Path) -> str:
    path = root / "VERSION"
    if not path.is_file():
        raise GoldfishError(f"{path} is missing: it holds the version of every package",
                            "restore it from git (`git checkout -- VERSION`)")
    version = path.read_text().strip()
    parse(version, f"{path} holds")
    return version


def cut(root: Path, version: str, today: datetime.date | None = None) -> list[Path]:
    """Make ``version`` the version of every member: VERSION, the members' pins on each other,
    and CHANGELOG.md's Unreleased entries under a dated ``version`` heading. Nothing is written
    unless every file can be changed."""
    old = current(root)
    if _order(version) <= _order(old):
        raise GoldfishError(f"{version} is not newer than the current version {old} (VERSION)",
                            "pass the next version, e.g. a higher patch or minor number")
    changelog = root / "CHANGELOG.md"
    text = changelog.read_text() if changelog.is_file() else ""
    if _UNRELEASED not in text:
        raise GoldfishError(f"{changelog} has no {_UNRELEASED!r} section to release",
                            "add the section with what changed since the last version, then cut")
    day = (today or datetime.date.today()).isoformat()
    text = text.replace(_UNRELEASED, f"{_UNRELEASED}\n\n## [{version}] - {day}", 1)
    links = re.search(r"^\[Unreleased\]: (\S+)/compare/v(\S+)\.\.\.HEAD$", text, re.MULTILINE)
    if links:
        base = links[1]
        text = text.replace(links[0], f"[Unreleased]: {base}/compare/v{version}...HEAD\n"
                                      f"[{version}]: {base}/compare/v{old}...v{version}", 1)
    writes: dict[Path, str] = {root / "VERSION": version + "\n", changelog: text}
    names = "|".join(re.escape(n) for n in workspace_members(root))
    # A pinned requirement on a member, quoted or in backticks: in every member's pyproject (the
    # test plugins' too, or the workspace would no longer resolve; their own versions stay) and
    # where the docs quote one (the plugin tutorial is the example plugin, file for file).
    pinned = re.compile(rf'(["`])({names})(\[[^\]]*\])?\s*[<>=!~][^"`;]*(;[^"`]*)?\1')
    paths = [folder / "pyproject.toml"
             for folder in workspace_members(root, released=False).values()]
    paths += [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    for path in paths:
        if not path.is_file():
            continue
        before = path.read_text()
        after = pinned.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{compatible(version)}"
                                     f"{m[4] or ''}{m[1]}", before)
        if after != before:
            writes[path] = after
    for path, content in writes.items():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
    for path in writes:
        path.with_name(path.name + ".tmp").replace(path)
    return sorted(writes)


def check(root: Path, tag: str) -> str:
    """The tag being released names VERSION's version and CHANGELOG.md has its section."""
    version = current(root)
    if tag.removeprefix("refs/tags/") != f"v{version}":
        raise GoldfishError(f"tag {tag!r} does not match VERSION ({version})",
                            f"tag the release commit v{version}, or cut the tag's version first")
    changelog = (root / "CHANGELOG.md").read_text()
    if not re.search(rf"^## \[{re.escape(version)}\]", changelog, re.MULTILINE):
        raise GoldfishError(f"CHANGELOG.md has no section for {version}",
                            f"run `python tools/release.py cut {version}` before tagging")
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.py", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("cut", help="make VERSION the new version everywhere").add_argument("version")
    sub.add_parser("check", help="a tag agrees with VERSION and CHANGELOG.md").add_argument("tag")
    build = sub.add_parser("build", help="every member's sdist and wheel, offline")
    build.add_argument("--out", type=Path, default=None, help="default: dist/ at the root")
    args = parser.parse_args(argv)
    root: Path = args.root
    try:
        if args.command == "cut":
            for path in cut(root, args.version):
                print(f"wrote {path.relative_to(root)}")
        elif args.command == "check":
            print(f"releasing {check(root, args.tag)}")
        else:
            out = (args.out or root / "dist").absolute()
            stale = [p for p in out.glob("*") if p.suffix in (".whl", ".gz")]
            if stale:
                raise GoldfishError(f"{out} already holds {len(stale)} built files",
                                    "remove them (or pass --out NEW_DIR) so only this release "
                                    "is published")
            current(root)
            build_dists(root, out)
            for path in sorted(out.iterdir()):
                print(path.relative_to(root) if path.is_relative_to(root) else path)
    except (GoldfishError, RuntimeError) as exc:  # RuntimeError: a build failed, with its output
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
