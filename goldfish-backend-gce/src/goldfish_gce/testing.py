"""Test doubles shipped to users: the GCS emulator runner and a faithful fake of GCE.

Nothing here needs a cloud account. :class:`GcsEmulator` runs ``gcp-storage-emulator`` (a pip
package) on a free loopback port and points ``STORAGE_EMULATOR_HOST`` at it.
:class:`FakeCompute` (in :mod:`goldfish_gce.fake`) serves the Compute REST API and a metadata
server; its "VMs" really run the boot script and worker as local processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

from goldfish.errors import GoldfishError

__all__ = ["GcsEmulator", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GcsEmulator:
    """A running GCS emulator (``endpoint`` is its base URL)."""

    endpoint: str
    process: subprocess.Popen[bytes]
    buckets: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def start(cls, buckets: list[str] | None = None,
              timeout: float = 30.0) -> Iterator[GcsEmulator]:
        """Start the emulator, create ``buckets``, export ``STORAGE_EMULATOR_HOST``; stop on exit."""
        port = free_port()
        args = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                "--port", str(port), "--in-memory", "-q"]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        endpoint = f"http://127.0.0.1:{port}"
        old = os.environ.get("STORAGE_EMULATOR_HOST")
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    urllib.request.urlopen(f"{endpoint}/", timeout=2).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise GoldfishError(
                            f"the GCS emulator did not start on port {port}",
                            "install it with `pip install 'goldfish-backend-gce[testing]'`") from None
                    time.sleep(0.1)
            for bucket in buckets or []:
                request = urllib.request.Request(
                    f"{endpoint}/storage/v1/b?project=goldfish-emulator",
                    data=json.dumps({"name": bucket}).encode(), method="POST",
                    headers={"Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=10).read()
            os.environ["STORAGE_EMULATOR_HOST"] = endpoint
            yield cls(endpoint, process, list(buckets or []))
        finally:
            if old is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = old
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
