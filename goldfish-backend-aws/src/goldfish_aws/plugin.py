"""Hook implementations of goldfish-backend-aws (registrations only; nothing heavy imported)."""

from __future__ import annotations

from typing import Any

from goldfish.hookspecs import hookimpl


@hookimpl
def register_storage_backends(register: Any) -> None:
    register("s3", "goldfish_aws.storage:S3Storage",
             config_model="goldfish_aws.settings:S3Settings")


@hookimpl
def register_compute_backends(register: Any) -> None:
    from goldfish.compute import Capabilities  # the registry is collected only when used

    # What EC2 will offer once it launches; today every launch stops at preflight.
    register("ec2", "goldfish_aws.backend:Ec2Backend",
             config_model="goldfish_aws.settings:Ec2Profile", capabilities=Capabilities(
                 gpu=True, spot=True, live_logs=False, detached=True, shares_filesystem=False))
