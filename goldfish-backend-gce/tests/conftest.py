from __future__ import annotations

from collections.abc import Iterator

import pytest
from goldfish_gce.fake import FakeCompute
from goldfish_gce.testing import GcsEmulator


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    """One GCS emulator for the whole session, on a free loopback port."""
    with GcsEmulator.start(buckets=["goldfish-test"]) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def fake_gce(gcs_emulator: GcsEmulator) -> Iterator[FakeCompute]:
    """One fake Compute API for the session; VMs boot at once, spot notice is short."""
    with FakeCompute(boot_delay=0.0, notice_seconds=1.5) as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_vm_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "fake_gce" in request.fixturenames:
        fake: FakeCompute = request.getfixturevalue("fake_gce")
        import time

        deadline = time.monotonic() + 15
        while fake.live() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [vm.name for vm in fake.live()]
        for vm in fake.live():
            fake._remove(vm)
        assert left == [], f"VMs left in the fake: {left}"
