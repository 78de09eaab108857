"""Pydantic models of the ``s3://`` storage settings and of a ``backend: ec2`` profile. Imported
only when a configuration naming them is validated or the backend is used."""

from __future__ import annotations

from typing import Literal

from goldfish.config import Section
from pydantic import Field


class S3Settings(Section):
    """Settings of ``s3://`` storage, beside the URI: ``storage: {uri: s3://bucket/prefix,
    region: eu-west-1, endpoint_url: http://minio:9000}``. Credentials are never a setting: they
    come from boto3's own chain (environment, ``~/.aws``, instance role), picked by ``profile``."""

    region: str | None = Field(None, description="AWS region of the bucket (default: boto3's "
                                                 "chain: `AWS_REGION`, the profile's region)")
    profile: str | None = Field(None, description="named profile of `~/.aws/config` whose "
                                                  "credentials and region are used (default: "
                                                  "boto3's chain, e.g. `AWS_PROFILE`)")
    endpoint_url: str | None = Field(None, pattern=r"^https?://",
                                     description="S3-compatible endpoint instead of AWS, e.g. "
                                                 "`http://localhost:9000` (MinIO) or "
                                                 "`https://<account>.r2.cloudflarestorage.com`")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="bucket in the path or in the host name; `path` for MinIO and "
                            "most self-hosted stores")
    multipart_threshold_mb: float = Field(8.0, gt=0, description="objects larger than this go "
                                                                 "up (and down) in parts")
    multipart_chunk_mb: float = Field(8.0, ge=5, description="size of one part (S3's minimum "
                                                             "is 5 MB)")
    max_concurrency: int = Field(8, ge=1, le=64, description="parts of one large object moved "
                                                             "at once")
    parallel_transfers: int = Field(8, ge=1, le=64, description="objects uploaded at once when "
                                                                "many are staged (put_many)")
    connect_timeout_seconds: float = Field(10.0, gt=0, description="give up connecting to the "
                                                                   "endpoint after this long")
    max_attempts: int = Field(5, ge=1, le=20, description="tries of one request (boto3's "
                                                          "standard retry mode)")


class Ec2Profile(Section):
    """Keys a ``backend: ec2`` profile accepts beyond the common ones (``spot``, ``gpu``, ``image``
    … are common keys). The backend is a stub: these are validated, nothing is launched."""

    instance_type: str = Field("m7i.large", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
                               description="EC2 instance type, e.g. `g5.xlarge`")
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
                               description="AWS region of the instances, e.g. `us-east-1`")
    ami: str | None = Field(None, pattern=r"^ami-[0-9a-f]{8,17}$",
                            description="machine image (`ami-…`; needs Python 3.11+)")
    subnet: str | None = Field(None, pattern=r"^subnet-[0-9a-f]{8,17}$",
                               description="VPC subnet (`subnet-…`) the instances join")
