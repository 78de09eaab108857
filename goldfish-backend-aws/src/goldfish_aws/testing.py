"""Test doubles shipped to users: moto's S3 server on a free loopback port.

Nothing here needs an AWS account. :class:`MotoS3` runs ``moto``'s threaded server (``pip install
'moto[server]'``) and answers real S3 requests over HTTP; point ``storage.endpoint_url`` at
:attr:`MotoS3.endpoint`. While it runs, the process environment holds fake credentials (and no
``~/.aws`` files), so nothing can reach a real account by accident.
"""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from goldfish.errors import GoldfishError

__all__ = ["FAKE_CREDENTIALS", "MotoS3"]

#: What the server is talked to with; moto accepts any key unless auth is switched on.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAGOLDFISHTESTING0",
    "AWS_SECRET_ACCESS_KEY": "goldfish-fake-secret-key-for-moto-only",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION",
            "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@dataclass
class MotoS3:
    """A running moto server (``endpoint`` is its base URL)."""

    endpoint: str
    server: Any
    buckets: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def start(cls, buckets: list[str] | None = None,
              credentials: dict[str, str] | None = None) -> Iterator[MotoS3]:
        """Start the server, set fake credentials in ``os.environ``, create ``buckets``;
        restore the environment and stop the server on exit."""
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise GoldfishError("moto's server is not installed",
                                "pip install 'goldfish-backend-aws[testing]' (or 'moto[server]')") from None
        env = {**FAKE_CREDENTIALS, **(credentials or {})}
        saved = {k: os.environ.get(k) for k in (*env, *_CLEARED)}
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            os.environ.update(env)
            for name in _CLEARED:
                os.environ.pop(name, None)
            host, port = server.get_host_and_port()
            moto = cls(f"http://{host}:{port}", server, list(buckets or []))
            for bucket in moto.buckets:
                moto.client().create_bucket(Bucket=bucket)
            yield moto
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            server.stop()

    def client(self, **credentials: str) -> Any:
        """A boto3 S3 client of this server (the environment's fake keys unless given)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            **credentials)

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Storage settings (beside the URI) that talk to this server."""
        return {"endpoint_url": self.endpoint, "region": "us-east-1", **extra}

    @contextlib.contextmanager
    def enforcing_auth(self) -> Iterator[None]:
        """Inside: the server checks credentials and IAM policies (moto's IAM), as AWS does."""
        def reset(count: str) -> None:
            request = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth",
                                             data=count.encode(), method="POST",
                                             headers={"Content-Type": "text/plain"})
            urllib.request.urlopen(request, timeout=10).read()

        reset("0")
        try:
            yield
        finally:
            reset("inf")
