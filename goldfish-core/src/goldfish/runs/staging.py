"""Staging a job through storage, for backends that do not share the filesystem.

The engine prepares the local job directory as always; for a backend whose capabilities say
``shares_filesystem=False`` it then calls :func:`stage_job`, which uploads that directory to the
project's storage and returns the :class:`~goldfish.compute.Job` with ``output_uri`` (the job's
prefix) and ``input_uris`` filled. Layout under the store's base URI::

    objects/sha256/ab/cdef…        every file, content-addressed (shared with run outputs)
    jobs/<job_id>/spec.json        the job spec the worker reads (format goldfish-job/1)
    jobs/<job_id>/exit.json …      what the worker writes back (see RESULTS)

A file whose content is already stored is never uploaded again: digests known to be present are
remembered in ``.goldfish/cache/staged-<store>.txt``; others are checked with ``exists`` (in
parallel) before they are uploaded.
The spec also carries the stage runtime (``goldfish/__init__.py``, ``io.py``, ``_stage.py``,
``errors.py`` — standard library only), so any image with Python can run the stage.

The worker on the other side writes the exit record first, then outputs, log, metrics,
heartbeat and checkpoints under ``jobs/<job_id>/``; :func:`fetch_results` brings them into the
local job directory (live files while the stage runs, everything once it has exited).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import goldfish
from goldfish.artifacts import ArtifactStore, hash_file
from goldfish.compute import Job
from goldfish.errors import NotFoundError
from goldfish.storage import StorageBackend

SPEC_FORMAT = "goldfish-job/1"
RUNTIME_FILES = ("__init__.py", "io.py", "_stage.py", "errors.py")
#: Files the worker keeps up to date while the stage runs.
LIVE = ("exit.json", "log.txt", "metrics.jsonl", "heartbeat")
#: Everything the worker writes back (directories end with ``/``).
RESULTS = (*LIVE, "error.json", "outputs/")


def job_prefix(base_uri: str, job_id: str) -> str:
    return f"{base_uri.rstrip('/')}/jobs/{job_id}"


def checkpoint_prefix(base_uri: str, run_id: str, stage: str) -> str:
    """Checkpoints outlive one attempt: a relaunched stage resumes from the same prefix."""
    return f"{base_uri.rstrip('/')}/checkpoints/{run_id}/{stage}"


def resume_prefix(base_uri: str, run_id: str, stage: str) -> str:
    """The metric stream as of the last sync, so a relaunched stage continues it."""
    return f"{base_uri.rstrip('/')}/resume/{run_id}/{stage}"


def _walk(root: Path) -> Iterable[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            yield full.relative_to(root).as_posix(), full


class _Known:
    """Digests known to be in one store, persisted so a later staging skips them unasked."""

    def __init__(self, cache_dir: Path, base_uri: str) -> None:
        tag = hashlib.sha256(base_uri.encode()).hexdigest()[:16]
        self.path = cache_dir / f"staged-{tag}.txt"
        try:
            self.digests = set(self.path.read_text(encoding="ascii").split())
        except (OSError, UnicodeDecodeError):
            self.digests = set()
        self.added: list[str] = []

    def add(self, digest: str) -> None:
        if digest not in self.digests:
            self.digests.add(digest)
            self.added.append(digest)

    def save(self) -> None:
        if not self.added:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="ascii") as fh:
            fh.write("".join(f"{d}\n" for d in self.added))
        self.added = []


def _put_many(storage: StorageBackend, items: list[tuple[str, Path | bytes]]) -> None:
    put_many = getattr(storage, "put_many", None)
    if callable(put_many):
        put_many(items)
    else:
        for uri, src in items:
            storage.put(uri, src)


def stage_job(store: ArtifactStore, job: Job, cache_dir: Path,
              extra: dict[str, Any] | None = None) -> tuple[Job, int]:
    """Upload ``job.job_dir`` through ``store``; return the staged job and how many file
    objects were uploaded (0 when every file was already there)."""
    known = _Known(cache_dir, store.base_uri)
    files: dict[str, str] = {}
    pending: dict[str, Path] = {}
    sources = [(rel, full) for rel, full in _walk(job.job_dir)
               if rel.startswith(("code/", "inputs/")) or rel == "job.json"]
    runtime = Path(goldfish.__file__).parent
    sources += [(f"runtime/goldfish/{name}", runtime / name) for name in RUNTIME_FILES]
    for rel, full in sources:
        digest = hash_file(full)
        uri = store.object_uri(digest)
        files[rel] = uri
        if digest not in known.digests:
            pending.setdefault(digest, full)
    # here, not at the top: the engine imports this module, and concurrent.futures brings
    # logging with it into every local `goldfish run`
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        present = list(pool.map(lambda d: store.storage.exists(store.object_uri(d)), pending))
    uploads: list[tuple[str, Path | bytes]] = [
        (store.object_uri(digest), full)
        for (digest, full), there in zip(pending.items(), present, strict=True) if not there]
    _put_many(store.storage, uploads)
    for digest in pending:
        known.add(digest)
    known.save()

    prefix = job_prefix(store.base_uri, job.job_id)
    inputs = {rel.split("/", 1)[1]: uri for rel, uri in files.items()
              if rel.startswith("inputs/")}
    staged = replace(job, output_uri=prefix, input_uris=inputs)
    spec = {"format": SPEC_FORMAT, "job_id": job.job_id, "run_id": job.run_id,
            "stage": job.stage, "command": list(job.command), "env": dict(job.env),
            "files": files, "output_uri": prefix,
            "checkpoint_uri": checkpoint_prefix(store.base_uri, job.run_id, job.stage),
            "resume_uri": resume_prefix(store.base_uri, job.run_id, job.stage),
            "timeout_seconds": job.resources.timeout_seconds, "image": job.image,
            **(extra or {})}
    store.storage.put(f"{prefix}/spec.json", json.dumps(spec, indent=1, sort_keys=True).encode())
    return staged, len(uploads)


def fetch_results(storage: StorageBackend, output_uri: str, job_dir: Path, *,
                  live_only: bool = False) -> list[str]:
    """Copy what the worker wrote under ``output_uri`` into ``job_dir``; returns the relative
    paths fetched. ``live_only`` fetches the files that change while the stage runs."""
    job_dir.mkdir(parents=True, exist_ok=True)
    prefix = output_uri.rstrip("/") + "/"
    wanted = LIVE if live_only else RESULTS
    fetched: list[str] = []
    for uri in storage.list(output_uri):
        rel = uri[len(prefix):]
        if not any(rel == w or (w.endswith("/") and rel.startswith(w)) for w in wanted):
            continue
        try:
            storage.get(uri, job_dir / rel)
        except NotFoundError:  # replaced between list and get: the next fetch has it
            continue
        fetched.append(rel)
    return fetched
