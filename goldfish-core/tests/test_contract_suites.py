"""The conformance suites catch real bugs: each planted bug in ``mutant_backends.py`` fails the
compute suite on the test written for it, while the mutant otherwise runs stages fine; and a
backend that runs jobs inside ``launch`` (``detached=False``) is tested without hanging."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from goldfish.testing.contracts import BackendFactory, ComputeBackendContract

MUTANTS = Path(__file__).with_name("mutant_backends.py")
SMOKE = "test_stage_runs_prints_and_writes_an_output"

#: mutant suite → (the suite test that must catch it, what its failure says)
CAUGHT_BY: dict[str, tuple[str, tuple[str, ...]]] = {
    "TestKilledReportsExit0": ("test_stage_killed_from_outside_is_not_a_normal_exit",
                               ("a SIGKILLed stage was reported as a normal exit",)),
    "TestVanishedWrapperIsExit0": ("test_vanished_wrapper_is_lost_and_release_ends_the_orphan",
                                   ("the wrapper vanished, yet the job was reported as",)),
    "TestNoHeartbeats": ("test_heartbeats_are_reported",
                         ("poll never reported a moving heartbeat",)),
    "TestInMemoryHandles": ("test_a_fresh_instance_and_process_take_over_a_handle",
                            ("a fresh backend instance cannot see a running job",)),
    "TestPrivateJobDir": ("test_stop_request_reaches_the_stage",
                          ("the stage never saw the stop request", "not finished after")),
    "TestLeaksCallerEnv": ("test_stage_env_is_the_jobs_not_the_callers",
                           ("the caller's environment leaked into the job",)),
    "TestSplitsCharacters": ("test_log_chunks_never_split_a_character",
                             ("a character was split across log chunks",)),
    "TestCancelRestartsGrace": ("test_cancel_escalates_even_when_repeated_every_tick",
                                ("a stage ignoring SIGTERM outlived",)),
    "TestBlocksInLaunch": ("test_cancel_ends_a_sleeping_stage", ("did not return within",)),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[str, str]]:
    """Run every mutant's catching test and smoke test in one pytest process."""
    report = tmp_path_factory.mktemp("mutants") / "report.xml"
    ids = []
    for suite, (test, _) in CAUGHT_BY.items():
        ids += [f"{MUTANTS}::{suite}::{test}", f"{MUTANTS}::{suite}::{SMOKE}"]
    env = {**os.environ, "GOLDFISH_LOAD_PLUGINS": ""}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={report}", *ids], capture_output=True, text=True,
                          env=env, cwd=MUTANTS.parent, timeout=600)
    assert report.is_file(), proc.stdout + proc.stderr
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        suite = case.get("classname", "").rsplit(".", 1)[-1]
        verdict, text = "passed", ""
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                verdict = "failed" if kind == "failure" else kind
                text = (node.get("message") or "") + (node.text or "")
                break
        out[(suite, case.get("name", ""))] = (verdict, text)
    return out


@pytest.mark.parametrize("suite", sorted(CAUGHT_BY))
def test_the_compute_suite_catches_the_planted_bug(
        suite: str, outcomes: dict[tuple[str, str], tuple[str, str]]) -> None:
    test, messages = CAUGHT_BY[suite]
    assert outcomes[(suite, SMOKE)][0] == "passed", (
        f"the {suite} mutant is broken beyond its planted bug: {outcomes[(suite, SMOKE)]}")
    verdict, text = outcomes[(suite, test)]
    assert verdict == "failed", f"{suite}::{test} did not catch the planted bug ({verdict})"
    assert any(m in text for m in messages), text[-2000:]


class TestSynchronousBackend(ComputeBackendContract):
    """``detached=False``: passes, with the tests that need a running job skipped."""

    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> BackendFactory:
        return BackendFactory("mutant_backends:Synchronous", tmp_path, {"kill_grace_seconds": 1})
