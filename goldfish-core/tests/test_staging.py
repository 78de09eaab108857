"""Staging a job through storage for backends that do not share the filesystem."""

from __future__ import annotations

import json
from pathlib import Path

from goldfish.artifacts import ArtifactStore
from goldfish.builtins.file_storage import FileStorage
from goldfish.compute import Job
from goldfish.runs.staging import fetch_results, stage_job
from goldfish.testing.contracts import write_job_dir


class CountingStorage(FileStorage):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts: list[str] = []

    def put(self, uri: str, src: Path | bytes) -> None:
        self.puts.append(uri)
        super().put(uri, src)


def _job(tmp_path: Path, files: int) -> Job:
    job = write_job_dir(tmp_path / "job", "print('hi')")
    for i in range(files):
        (job.job_dir / "code" / f"f{i:04d}.py").write_text(f"x = {i}\n")
    (job.job_dir / "inputs" / "data.json").write_text('{"rows": 3}')
    return job


def test_restaging_after_one_change_uploads_one_object(tmp_path: Path) -> None:
    storage = CountingStorage(tmp_path)
    store = ArtifactStore(storage, f"file://{tmp_path}/store")
    job = _job(tmp_path, 1000)
    _staged, uploaded = stage_job(store, job, tmp_path / "cache")
    assert uploaded == 1000 + 1 + 1 + 1 + 4  # code, stage module, input, job.json, runtime
    (job.job_dir / "code" / "f0007.py").write_text("x = 'changed'\n")
    storage.puts.clear()
    _again, uploaded = stage_job(store, job, tmp_path / "cache")
    assert uploaded == 1
    blobs = [u for u in storage.puts if "/objects/" in u]
    assert len(blobs) == 1 and storage.puts[-1].endswith("/spec.json")


def test_spec_lists_every_file_and_the_job_names_its_uris(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    base = f"file://{tmp_path}/store"
    job = _job(tmp_path, 2)
    staged, _ = stage_job(ArtifactStore(storage, base), job, tmp_path / "cache")
    assert staged.output_uri == f"{base}/jobs/{staged.job_id}"
    assert set(staged.input_uris) == {"data.json"}
    assert storage.open(staged.input_uris["data.json"]).read() == b'{"rows": 3}'
    spec = json.loads(storage.open(f"{staged.output_uri}/spec.json").read())
    assert spec["format"] == "goldfish-job/1"
    assert {"job.json", "code/modules/probe.py", "code/f0001.py", "inputs/data.json",
            "runtime/goldfish/io.py", "runtime/goldfish/_stage.py"} <= set(spec["files"])
    assert spec["checkpoint_uri"] == f"{base}/checkpoints/{staged.run_id}/probe"
    for rel, uri in spec["files"].items():  # every listed object holds that file's bytes
        if not rel.startswith("runtime/"):
            assert storage.open(uri).read() == (job.job_dir / rel).read_bytes()


def test_fetch_brings_live_files_then_everything(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    prefix = f"file://{tmp_path}/store/jobs/j1"
    storage.put(f"{prefix}/log.txt", b"line\n")
    storage.put(f"{prefix}/metrics.jsonl", b'{"name": "loss"}\n')
    storage.put(f"{prefix}/outputs/model.json", b"{}")
    storage.put(f"{prefix}/spec.json", b"{}")
    local = tmp_path / "local"
    assert sorted(fetch_results(storage, prefix, local, live_only=True)) == [
        "log.txt", "metrics.jsonl"]
    assert not (local / "outputs").exists()
    assert sorted(fetch_results(storage, prefix, local)) == [
        "log.txt", "metrics.jsonl", "outputs/model.json"]
    assert (local / "outputs" / "model.json").read_bytes() == b"{}"
    assert not (local / "spec.json").exists()
