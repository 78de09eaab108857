"""s3:// transfers: multipart parts in parallel and many objects in parallel, each against its
serial baseline measured in the same run, on moto's S3 server (in a process of its own, so the
client's threads and the server do not share one interpreter lock).

Run: `uv run python tests/benchmarks/s3_transfers.py [--runs N] [--mb 48] [--objects 120]`

Prints medians and the ratios serial / parallel (above 1: parallel is faster) for
* one large object put and read back (`max_concurrency` 1 vs 8, parts of 8 MB), and
* `put_many` of many small objects (`parallel_transfers` 1 vs 8).
moto answers from memory on loopback, so the ratios show the client's overlap of requests, not
a network's latency; against real S3 the gain of both grows with the round-trip time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from goldfish_aws.storage import S3Storage
from goldfish_aws.testing import FAKE_CREDENTIALS
from goldfish_gce.testing import free_port

SERVER = ("import sys, threading\n"
          "from moto.server import ThreadedMotoServer\n"
          "ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), verbose=False)"
          ".start()\n"
          "threading.Event().wait()\n")


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
            return proc, endpoint
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("moto's server did not start") from None
            time.sleep(0.1)


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=48, help="size of the large object")
    parser.add_argument("--objects", type=int, default=120, help="small objects in put_many")
    args = parser.parse_args()
    os.environ.update(FAKE_CREDENTIALS)
    proc, endpoint = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            common = {"endpoint_url": endpoint, "region": "us-east-1",
                      "multipart_threshold_mb": 8, "multipart_chunk_mb": 8}
            serial = S3Storage(work, {**common, "max_concurrency": 1, "parallel_transfers": 1})
            parallel = S3Storage(work, {**common, "max_concurrency": 8, "parallel_transfers": 8})
            serial.client.create_bucket(Bucket="bench")
            big = work / "big.bin"
            big.write_bytes(os.urandom(args.mb * 1024 * 1024))
            results: dict[str, dict[str, list[float]]] = {
                "put large": {"serial": [], "parallel": []},
                "get large": {"serial": [], "parallel": []},
                "put_many": {"serial": [], "parallel": []}}
            for _ in range(args.runs):  # interleaved, so drift hits both alike
                for label, storage in (("serial", serial), ("parallel", parallel)):
                    uri = f"s3://bench/{uuid.uuid4().hex}/big"
                    results["put large"][label].append(timed(lambda s=storage, u=uri:
                                                             s.put(u, big)))
                    results["get large"][label].append(timed(
                        lambda s=storage, u=uri: s.get(u, work / "back.bin")))
                    root = f"s3://bench/{uuid.uuid4().hex}"
                    items = [(f"{root}/{i}", os.urandom(2048)) for i in range(args.objects)]
                    results["put_many"][label].append(timed(lambda s=storage, i=items:
                                                            s.put_many(i)))
    finally:
        proc.kill()
    print(f"s3 transfers on moto, {args.runs} runs each (medians, ms); "
          f"large object {args.mb} MB in 8 MB parts, put_many of {args.objects} x 2 KB")
    for name, by in results.items():
        s, p = statistics.median(by["serial"]), statistics.median(by["parallel"])
        print(f"  {name:<10} serial {s:8.0f}  parallel {p:8.0f}  ratio serial/parallel "
              f"{s / p:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
