"""``.gitignore`` semantics for slots, checked rule by rule and against git itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

from goldfish.ignore import EMPTY, IgnoreRules, parse
from goldfish.snapshot import init_repository, snapshot_tree
from ws_support import write


def rules(text: str, base: str = "") -> IgnoreRules:
    return EMPTY.child(base, text)


def test_always_ignored_names() -> None:
    assert EMPTY.ignored("__pycache__", True)
    assert EMPTY.ignored("pkg/__pycache__", True)
    assert EMPTY.ignored(".git", True)
    assert EMPTY.ignored("pkg/mod.pyc", False)
    assert not EMPTY.ignored("pkg/mod.py", False)


def test_basename_patterns_match_at_any_depth() -> None:
    r = rules("*.log\n")
    assert r.ignored("a.log", False)
    assert r.ignored("deep/er/b.log", False)
    assert not r.ignored("a.log.txt", False)


def test_negation_reincludes_and_last_match_wins() -> None:
    r = rules("*.log\n!keep.log\n")
    assert r.ignored("x.log", False)
    assert not r.ignored("keep.log", False)
    assert not r.ignored("sub/keep.log", False)
    assert rules("!keep.log\n*.log\n").ignored("keep.log", False)


def test_dir_only_pattern() -> None:
    r = rules("build/\n")
    assert r.ignored("build", True)
    assert r.ignored("src/build", True)
    assert not r.ignored("build", False)


def test_anchored_patterns() -> None:
    r = rules("/data\nconf/local.yaml\n")
    assert r.ignored("data", True)
    assert not r.ignored("src/data", True)
    assert r.ignored("conf/local.yaml", False)
    assert not r.ignored("x/conf/local.yaml", False)


def test_double_star() -> None:
    r = rules("**/cache\nlogs/**\na/**/z.txt\n")
    assert r.ignored("cache", True)
    assert r.ignored("x/y/cache", False)
    assert r.ignored("logs/one/two.txt", False)
    assert not r.ignored("logs", True)
    assert r.ignored("a/z.txt", False)
    assert r.ignored("a/b/c/z.txt", False)
    assert not r.ignored("b/a/z.txt", False)


def test_nested_file_applies_below_its_directory_only() -> None:
    r = rules("*.tmp\n").child("sub", "!x.tmp\n/local\n")
    assert r.ignored("y.tmp", False)
    assert not r.ignored("sub/x.tmp", False)
    assert r.ignored("sub/local", False)
    assert not r.ignored("local", False)
    assert not r.ignored("other/local", False)


def test_comments_blank_lines_escapes_and_classes() -> None:
    pats = parse("# comment\n\n\\#hash\n\\!bang\nfile[0-9].txt\nq?.md\n")
    assert [p.negated for p in pats] == [False, False, False, False]
    r = rules("\\#hash\n\\!bang\nfile[0-9].txt\nq?.md\n")
    assert r.ignored("#hash", False)
    assert r.ignored("!bang", False)
    assert r.ignored("file7.txt", False)
    assert not r.ignored("filex.txt", False)
    assert r.ignored("qa.md", False)
    assert not r.ignored("qab.md", False)


def test_snapshot_keeps_exactly_what_git_keeps(tmp_path: Path) -> None:
    slot = tmp_path / "slot"
    write(slot / ".gitignore", "*.log\n!keep.log\nbuild/\n/top.txt\n**/cache/\nnotes/**\n")
    for rel in ["a.py", "x.log", "keep.log", "build/out.bin", "src/build/o.bin", "top.txt",
                "src/top.txt", "src/cache/c.bin", "cache/d.bin", "notes/n.md", "src/m.py",
                "src/.gitignore", "src/gen.tmp", "src/ok.log", "deep/er/keep.log"]:
        if rel != "src/.gitignore":
            write(slot / rel, rel)
    write(slot / "src/.gitignore", "*.tmp\n!ok.log\n")
    repo = tmp_path / "repo"
    init_repository(repo)
    ours = snapshot_tree(repo, slot, collect=True).listing or {}

    subprocess.run(["git", "init", "-q", str(slot)], check=True)
    listed = subprocess.run(["git", "-C", str(slot), "ls-files", "--others", "--exclude-standard"],
                            check=True, capture_output=True, text=True).stdout.split()
    assert sorted(ours) == sorted(listed)
    assert "keep.log" in ours and "src/ok.log" in ours and "x.log" not in ours
