from __future__ import annotations

from collections.abc import Iterator

import pytest
from goldfish_gce.testing import GcsEmulator


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    """One GCS emulator for the whole session, on a free loopback port."""
    with GcsEmulator.start(buckets=["goldfish-test"]) as emulator:
        yield emulator
