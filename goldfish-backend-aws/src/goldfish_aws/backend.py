"""The ``ec2`` compute backend: a stub, and honest about it.

Its profiles are real (validated by :class:`~goldfish_aws.settings.Ec2Profile`, listed by
``goldfish profiles``) and its capabilities are declared, so a project can be written for EC2
today. It never starts anything: :meth:`Ec2Backend.preflight` refuses every run that would use
it before the run's snapshot is taken, ``goldfish doctor`` shows the same words, and ``launch``
(never reached through the engine) refuses too. What works instead: ``s3://`` storage with the
``local``, ``docker`` or ``gce`` backends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goldfish.compute import Capabilities, Handle, Job, JobStatus, LogChunk
from goldfish.errors import GoldfishError, InvalidInputError

#: Where a backend author starts (the guide and its conformance suite).
GUIDE = "docs/plugins.md § \"Writing a compute backend\""


def not_implemented(profile: str | None = None) -> GoldfishError:
    """The one message of the stub: what is missing, what works instead, where the guide is."""
    who = f"profile {profile!r} uses backend 'ec2', which" if profile else "backend 'ec2'"
    return GoldfishError(
        f"{who} cannot run stages: goldfish-backend-aws implements S3 storage only; its EC2 "
        "compute backend is a stub that validates profiles and starts nothing",
        "run these stages on a local or docker profile (both work with "
        "`storage: s3://bucket/prefix`; gce works with gs:// storage), e.g. `profile: local` "
        f"in pipeline.yaml or `default_profile: local` in goldfish.yaml; to implement EC2, "
        f"follow {GUIDE} and make goldfish_aws.backend:Ec2Backend pass "
        "ComputeBackendContract")


class Ec2Backend:
    """See the module docstring."""

    name = "ec2"
    capabilities = Capabilities(gpu=True, spot=True, live_logs=False, detached=True,
                                shares_filesystem=False)

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        from pydantic import ValidationError

        from goldfish_aws.settings import Ec2Profile

        self.project_root = Path(project_root)
        try:
            self.profile = Ec2Profile.model_validate(dict(config or {}))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "profile"
            raise InvalidInputError(f"ec2 profile key {where}: {first['msg']}",
                                    "fix the profile under `profiles:` in goldfish.yaml; the "
                                    "keys are listed in docs/config.md") from None

    # --- what the stub says -----------------------------------------------------------------
    def preflight(self, profile: str) -> None:
        """Refuse before any snapshot or staging work (see :func:`goldfish.runs.preflight`)."""
        raise not_implemented(profile)

    def diagnose(self, profile_name: str, profile: Any = None) -> list[tuple[str, str, str]]:
        """``goldfish doctor``'s line for the profile (``goldfish.runs.backends.diagnose``): a
        warning, since a project may define an ec2 profile it never runs."""
        error = not_implemented()
        return [("warn", f"ec2 backend ({profile_name})", f"{error.message}; {error.hint}")]

    # --- the contract: nothing runs, and nothing pretends to --------------------------------
    def launch(self, job: Job) -> Handle:
        raise not_implemented(job.profile)

    def poll(self, handle: Handle) -> JobStatus:
        return JobStatus("lost", message="the ec2 backend is a stub: it never started this job")

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        return LogChunk("", cursor, complete=True)

    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        return None

    def fetch(self, handle: Handle, job_dir: Path) -> None:
        return None

    def release(self, handle: Handle) -> None:
        return None
