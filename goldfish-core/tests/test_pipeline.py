"""``pipeline.yaml``: the malformed corpus (every problem at its line), the model, configs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from goldfish.errors import ProblemsError
from goldfish.pipeline import (
    KNOWN_CHECKS,
    load_pipeline,
    load_stage_config_text,
    merge_config,
    register_check,
)

CORPUS = Path(__file__).parent / "data" / "pipelines"
CASES = sorted(CORPUS.glob("*.yaml"))


def _header(text: str, key: str) -> set[str] | None:
    m = re.search(rf"^# {key}: (.*)$", text, re.M)
    return set(m.group(1).split()) if m else None


def _expected(text: str) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2)) for m in re.finditer(r"^# expect: (\d+) (.*)$", text, re.M)]


def test_the_corpus_covers_every_kind_of_problem() -> None:
    names = {p.stem for p in CASES}
    assert {"cycle", "unknown_upstream", "type_mismatch", "missing_module", "duplicate_stage",
            "bad_contract", "unknown_key", "bad_yaml", "many_errors"} <= names


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_file_reports_every_expected_problem_at_its_line(path: Path) -> None:
    text = path.read_text()
    expected = _expected(text)
    kwargs = {k: _header(text, k) for k in ("files", "sources", "profiles")}
    if not expected:
        pipeline = load_pipeline(text, path.name, **kwargs)
        assert pipeline.stages
        return
    with pytest.raises(ProblemsError) as err:
        load_pipeline(text, path.name, **kwargs)
    problems = err.value.problems
    rendered = [(p.line, p.render()) for p in problems]
    for line, fragment in expected:
        assert any(pl == line and fragment in r for pl, r in rendered), (
            f"{path.name}: no problem at line {line} containing {fragment!r}; got:\n"
            + "\n".join(f"  {pl}: {r}" for pl, r in rendered))
    assert len(problems) == len(expected), "unexpected extra problems:\n" + "\n".join(
        r for _, r in rendered)
    assert all(p.file == path.name for p in problems)
    assert str(err.value).startswith(f"{path.name} is invalid ({len(expected)} problem")


def test_valid_pipeline_model() -> None:
    text = (CORPUS / "valid_digits.yaml").read_text()
    p = load_pipeline(text, files={"modules/prepare.py", "modules/train.py",
                                   "modules/evaluate.py"}, sources={"digits_raw"})
    assert p.name == "digits" and p.file == "pipeline.yaml"
    assert p.names == ["prepare", "train", "evaluate"]  # topological, not file order
    ev = p.stage("evaluate")
    assert ev.upstream == ["train", "prepare"] and ev.profile == "local"
    assert ev.inputs["test"].from_stage == "prepare" and ev.inputs["test"].from_output == "test"
    assert ev.inputs["test"].type == "npy" and ev.inputs["test"].line == 8
    prep = p.stage("prepare")
    assert prep.module == "modules/prepare.py" and prep.inputs["raw"].source == "digits_raw"
    assert prep.outputs["train"].contract == {"shape": [None, 65], "dtype": "float32",
                                              "checks": {"nan_ratio": {"max": 0}}}
    assert prep.outputs["train"].filename == "train.npy" and prep.checks == {
        "leakage": {"between": ["train", "test"]}}
    train = p.stage("train")
    assert train.outputs["model"].filename == "model"
    assert train.config == {"lr": 0.001, "epochs": 20}  # 1e-3 is a float, not text
    assert train.deps == ["modules/*.py"] and train.timeout_minutes == 30.0 and train.cache
    assert train.line == 17 and train.line_of("config.lr") == 20 and train.line_of("nothing") == 17
    assert p.downstream("prepare") == ["train", "evaluate"]
    assert p.results == {"metric": "evaluate.accuracy", "direction": "max", "goal": 0.98}


def test_independent_stages_keep_file_order() -> None:
    text = "stages:\n" + "".join(
        f"  - name: {n}\n    outputs: {{o: {{type: file}}}}\n" for n in ("c", "a", "b"))
    assert load_pipeline(text).names == ["c", "a", "b"]


def test_a_large_chain_is_ordered_without_recursion_limits() -> None:
    n = 1500
    lines = ["stages:"]
    for i in reversed(range(n)):
        lines.append(f"  - name: s{i}")
        if i:
            lines.append(f"    inputs: {{x: {{from: s{i - 1}.o}}}}")
        lines.append("    outputs: {o: {type: json}}")
    assert load_pipeline("\n".join(lines)).names == [f"s{i}" for i in range(n)]


def test_two_separate_cycles_are_both_named() -> None:
    text = """
stages:
  - {name: a, inputs: {x: {from: b.o}}, outputs: {o: {type: file}}}
  - {name: b, inputs: {x: {from: a.o}}, outputs: {o: {type: file}}}
  - {name: c, inputs: {x: {from: d.o}}, outputs: {o: {type: file}}}
  - {name: d, inputs: {x: {from: c.o}}, outputs: {o: {type: file}}}
  - {name: e, inputs: {x: {from: d.o}}, outputs: {o: {type: file}}}
"""
    with pytest.raises(ProblemsError) as err:
        load_pipeline(text)
    messages = [p.message for p in err.value.problems]
    assert messages == ["cycle: a → b → a", "cycle: c → d → c"]


def test_unknown_check_names_can_be_registered_by_plugins() -> None:
    text = "stages:\n  - name: t\n    outputs: {o: {type: file}}\n    checks: {zebra_stripes: {}}\n"
    with pytest.raises(ProblemsError, match="unknown check 'zebra_stripes'"):
        load_pipeline(text)
    register_check("zebra_stripes", "test-only check")
    try:
        assert load_pipeline(text).stage("t").checks == {"zebra_stripes": {}}
    finally:
        del KNOWN_CHECKS["zebra_stripes"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "must be a mapping with `stages:`, got nothing"),
        ("name: x\n", "`stages:` must be a non-empty list"),
        ("stages: []\n", "`stages:` must be a non-empty list"),
        ("stages:\n  - outputs: {o: {type: file}}\n", "stage has no name"),
        ("stages:\n  - name: t\n    module: ../escape.py\n", "module must be a relative path"),
        ("stages:\n  - name: t\n    cache: maybe\n", "cache must be true or false"),
        ("stages:\n  - name: t\n    deps: [/etc/*]\n", "must be relative to the workspace"),
        ("stages:\n  - name: t\n    config: [1, 2]\n", "config must be a mapping"),
        ("stages:\n  - name: t\n    outputs: {o: npy}\n", "must be a mapping with a type"),
        ("stages:\n  - name: t\n    inputs: {x: {source: s, type: parquet}}\n",
         "unknown signal type 'parquet'"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
        ("stages:\n  - name: t\n    outputs: {o: {type: npy, contract: {shape: [3], rank: 2}}}\n",
         "shape has 1 dimensions but rank is 2"),
    ],
)
def test_small_mistakes_are_located(text: str, fragment: str) -> None:
    with pytest.raises(ProblemsError) as err:
        load_pipeline(text)
    assert fragment in str(err.value)
    assert all(p.file == "pipeline.yaml" for p in err.value.problems)


# --- stage configs ---------------------------------------------------------------------------------


def _train(config: str = "{lr: 0.1, epochs: 20, optim: {name: sgd, momentum: 0.9}}",
           schema: str | None = None) -> object:
    text = f"stages:\n  - name: train\n    outputs: {{m: {{type: file}}}}\n    config: {config}\n"
    if schema:
        text += f"    config_schema: {schema}\n"
    return load_pipeline(text).stage("train")


def test_merge_order_defaults_file_overrides() -> None:
    stage = _train()
    file_cfg = load_stage_config_text("epochs: 5\noptim:\n  momentum: 0.5\nwarmup: 2\n",
                                      "configs/train.yaml")
    merged = merge_config(stage, file_cfg, {"lr": 0.2, "optim.name": "adam"})  # type: ignore[arg-type]
    assert merged == {"lr": 0.2, "epochs": 5, "optim": {"name": "adam", "momentum": 0.5},
                      "warmup": 2}
    assert stage.config["optim"] == {"name": "sgd", "momentum": 0.9}  # type: ignore[attr-defined]
    assert merge_config(stage, None, None) == stage.config  # type: ignore[arg-type,attr-defined]


def test_override_of_an_unknown_key_is_an_error_with_did_you_mean() -> None:
    stage = _train()
    with pytest.raises(ProblemsError) as err:
        merge_config(stage, None, {"epoch": 3, "optim.momentun": 0.1,  # type: ignore[arg-type]
                                   "lr": "ten"})
    text = str(err.value)
    assert "override of unknown config key 'epoch'" in text and "did you mean 'epochs'?" in text
    assert "unknown config key 'optim.momentun'" in text and "did you mean 'momentum'?" in text
    assert "override lr = 'ten' (text) does not match the type of its default 0.1" in text
    assert len(err.value.problems) == 3


def test_schema_checks_every_layer_with_its_file_and_line() -> None:
    stage = _train("{lr: 0.1}", "{lr: {type: float, min: 0, max: 1}, "
                   "epochs: {type: int, min: 1, required: true}, act: {choices: [relu, gelu]}}")
    file_cfg = load_stage_config_text("# tuned\nlr: 3.0\nact: tanh\nbogus: 1\n", "configs/train.yaml")
    with pytest.raises(ProblemsError) as err:
        merge_config(stage, file_cfg, {})  # type: ignore[arg-type]
    by_key = {p.key: p for p in err.value.problems}
    assert by_key["lr"].line == 2 and "above the maximum 1" in by_key["lr"].message
    assert by_key["act"].line == 3 and "not one of the choices" in by_key["act"].message
    assert by_key["bogus"].line == 4 and "unknown config key 'bogus'" in by_key["bogus"].message
    assert "required config key 'epochs'" in by_key["epochs"].message
    assert all(p.file == "configs/train.yaml" for p in err.value.problems)
    ok = merge_config(stage, {"epochs": 3}, {"lr": 0.5, "act": "gelu"})  # type: ignore[arg-type]
    assert ok == {"lr": 0.5, "epochs": 3, "act": "gelu"}


def test_override_values_are_checked_against_the_schema() -> None:
    stage = _train("{lr: 0.1}", "{lr: {type: float, min: 0}}")
    with pytest.raises(ProblemsError) as err:
        merge_config(stage, None, {"lr": "0.1"})  # type: ignore[arg-type]
    (problem,) = err.value.problems
    assert problem.file == "overrides" and problem.key == "lr"
    assert "lr must be float, got '0.1' (text) (write it without quotes)" in problem.message
    assert merge_config(stage, None, {"lr": 1})["lr"] == 1  # type: ignore[arg-type]


def test_stage_config_file_errors_are_located() -> None:
    with pytest.raises(ProblemsError) as err:
        load_stage_config_text("lr: 0.1\n  epochs: [\n", "configs/train.yaml")
    assert err.value.problems[0].file == "configs/train.yaml"
    assert "YAML syntax error" in err.value.problems[0].message
    with pytest.raises(ProblemsError, match="must be a mapping of config keys, got a list"):
        load_stage_config_text("- 1\n", "configs/train.yaml")
    assert load_stage_config_text("", "configs/train.yaml") == {}
    cfg = load_stage_config_text("a: 1\nb:\n  c: 2\n", "configs/x.yaml")
    assert cfg == {"a": 1, "b": {"c": 2}} and cfg.line("b.c") == 3 and cfg.file == "configs/x.yaml"
