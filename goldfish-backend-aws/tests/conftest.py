from __future__ import annotations

from collections.abc import Iterator

import pytest
from goldfish_aws.testing import MotoS3


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """One moto S3 server for the whole session, on a free loopback port, with fake credentials
    in the environment while it runs."""
    with MotoS3.start(buckets=["goldfish-test"]) as server:
        yield server
