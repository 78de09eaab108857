"""Planner units: cache keys change exactly when what a stage computes may change; the state
machine refuses illegal transitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from goldfish.errors import InvalidInputError
from goldfish.runs import states
from goldfish.runs.engine import parse_reason, parse_set
from goldfish.runs.ids import job_id, new_run_id, parse_ref
from goldfish.runs.plan import Pinned, cache_key, code_hashes


@dataclass
class Sig:
    type: str
    contract: Any = None


@dataclass
class St:
    name: str
    module: str
    outputs: dict[str, Sig] = field(default_factory=lambda: {"out": Sig("json")})
    deps: list[str] | None = None


@dataclass
class Pl:
    stages: list[St]


FILES = {"pipeline.yaml": "p1", "configs/train.yaml": "c1", "modules/prep.py": "a1",
         "modules/train.py": "b1", "lib/util.py": "u1", "README.md": "r1"}


def hashes(files: dict[str, str], deps: list[str] | None = None) -> dict[str, str]:
    return code_hashes(Pl([St("prep", "modules/prep.py"),
                           St("train", "modules/train.py", deps=deps)]), files)


def test_code_hash_sees_shared_code_but_not_other_stages_or_configs() -> None:
    base = hashes(FILES)
    assert hashes({**FILES, "modules/train.py": "b2"})["prep"] == base["prep"]
    assert hashes({**FILES, "modules/train.py": "b2"})["train"] != base["train"]
    both = hashes({**FILES, "lib/util.py": "u2"})
    assert both["prep"] != base["prep"] and both["train"] != base["train"]
    assert hashes({**FILES, "pipeline.yaml": "p2", "configs/train.yaml": "c2"}) == base
    assert hashes({**FILES, "lib/new.py": "n1"})["prep"] != base["prep"]


def test_deps_globs_narrow_the_code_a_stage_sees() -> None:
    narrow = hashes(FILES, deps=["lib/*.py"])
    assert hashes({**FILES, "README.md": "r2"}, deps=["lib/*.py"])["train"] == narrow["train"]
    assert hashes({**FILES, "lib/util.py": "u2"}, deps=["lib/*.py"])["train"] != narrow["train"]
    assert hashes({**FILES, "modules/train.py": "b2"}, deps=["lib/*.py"])["train"] != \
        narrow["train"]


def test_every_key_part_changes_the_key() -> None:
    stage = St("train", "modules/train.py")
    inputs = {"x": Pinned("x", "json", source="raw", digest="sha256:1")}
    key, parts = cache_key(stage, "code", {"lr": 0.1, "n": 1}, inputs, "rt")
    assert set(parts) == {"code", "definition", "config", "inputs", "runtime"}
    assert cache_key(stage, "code", {"n": 1, "lr": 0.1}, inputs, "rt")[0] == key  # canonical
    variants = [
        cache_key(stage, "code2", {"lr": 0.1, "n": 1}, inputs, "rt"),
        cache_key(stage, "code", {"lr": 0.2, "n": 1}, inputs, "rt"),
        cache_key(stage, "code", {"lr": 0.1, "n": 1},
                  {"x": Pinned("x", "json", source="raw", digest="sha256:2")}, "rt"),
        cache_key(stage, "code", {"lr": 0.1, "n": 1}, inputs, "rt2"),
        cache_key(St("train", "modules/train.py", {"out": Sig("npy")}), "code",
                  {"lr": 0.1, "n": 1}, inputs, "rt"),
    ]
    assert len({key, *(k for k, _ in variants)}) == 6


def test_state_machine_allows_the_documented_paths_only() -> None:
    for a, b in [("queued", "preparing"), ("preparing", "running"), ("running", "finishing"),
                 ("finishing", "done"), ("queued", "reused"), ("queued", "skipped"),
                 ("running", "lost"), ("running", "cancelled")]:
        states.check(a, b)
    for a, b in [("done", "running"), ("queued", "done"), ("failed", "done"),
                 ("reused", "running"), ("lost", "done")]:
        with pytest.raises(states.TransitionError):
            states.check(a, b)


def test_ids_refs_reasons_and_overrides_parse() -> None:
    run_id = new_run_id(0)
    assert run_id.startswith("r-19700101-") and len(run_id) == len("r-19700101-abcdef")
    assert job_id(run_id, "train") == f"{run_id}.train"
    ref = parse_ref("r-20260101-a1b2c3/train.model")
    assert (ref.run, ref.stage, ref.output) == ("r-20260101-a1b2c3", "train", "model")
    with pytest.raises(InvalidInputError):
        parse_ref("a/b/c")
    assert parse_reason("try x", hypothesis="h") == {"description": "try x", "hypothesis": "h"}
    with pytest.raises(InvalidInputError, match="unknown reason key"):
        parse_reason({"descriptoin": "x"})
    assert parse_set(["train.lr=0.5", "train.layers=[1, 2]", "prep.name=abc"]) == {
        "train": {"lr": 0.5, "layers": [1, 2]}, "prep": {"name": "abc"}}
    # read like pipeline.yaml: 1e-3 is a number (YAML 1.1 would make it text), quotes keep text,
    # and text that is not valid YAML is kept as it was typed
    assert parse_set(["train.lr=1e-3", "train.tag='1e-3'", "train.s=[1,"]) == {
        "train": {"lr": 0.001, "tag": "1e-3", "s": "[1,"}}
