"""docs/pipelines.md stays true: its example parses, and its key tables name every key the parser
accepts."""

from __future__ import annotations

import re
from pathlib import Path

from goldfish.pipeline import (
    CONTRACT_KEYS,
    INPUT_KEYS,
    KNOWN_CHECKS,
    OUTPUT_KEYS,
    STAGE_KEYS,
    load_pipeline,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"


def test_the_documented_example_is_a_valid_pipeline() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    pipeline = load_pipeline(block.group(1), str(DOC))
    assert [s.name for s in pipeline.stages] == ["prepare", "train", "evaluate"]


def test_every_key_and_check_the_parser_accepts_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    keys = {*STAGE_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, *(k for ks in CONTRACT_KEYS.values() for k in ks)}
    # the core's own checks (plugins such as goldfish-svs may register more at run time)
    core_checks = {"nan_ratio", "inf_ratio", "null_ratio", "range", "constant", "collapsed",
                   "entropy", "unique_ratio", "top_k_concentration", "vocab_utilization",
                   "row_count", "leakage", "class_balance", "divergence", "grad_norm",
                   "metrics_logged"}
    assert core_checks <= set(KNOWN_CHECKS)
    missing = sorted(k for k in keys | core_checks if f"`{k}`" not in text)
    assert not missing, f"docs/pipelines.md does not mention {missing}"
