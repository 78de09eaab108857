"""The fake's metadata server, through plain HTTP: ETags, ``wait_for_change`` (with and without
``last_etag``), ``timeout_sec``, recursive directories, the Metadata-Flavor check, and a
``setMetadata`` through the real google-cloud-compute client waking a waiting request."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from goldfish_gce.fake import FakeCompute

ZONE = "us-central1-a"


@pytest.fixture
def fake() -> Iterator[FakeCompute]:
    """A fake of its own: its VMs never boot (nothing runs), only the metadata is served."""
    with FakeCompute(boot_delay=3600) as fake:
        yield fake


def instances(fake: FakeCompute) -> Any:
    """The real google-cloud-compute client, on the fake."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    return compute_v1.InstancesClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=fake.endpoint))


def insert(fake: FakeCompute, name: str, **attributes: str) -> None:
    from google.cloud import compute_v1

    instances(fake).insert(project="p", zone=ZONE, instance_resource=compute_v1.Instance(
        name=name, metadata=compute_v1.Metadata(items=[
            compute_v1.Items(key=k, value=v) for k, v in attributes.items()])))


def set_metadata(fake: FakeCompute, name: str, **attributes: str) -> None:
    """``instances.setMetadata`` through the real client, as the pool's assign sends it."""
    from google.cloud import compute_v1

    client = instances(fake)
    current = client.get(project="p", zone=ZONE, instance=name).metadata
    client.set_metadata(project="p", zone=ZONE, instance=name,
                        metadata_resource=compute_v1.Metadata(
                            fingerprint=current.fingerprint, items=[
                                compute_v1.Items(key=k, value=v)
                                for k, v in attributes.items()]))


def get(fake: FakeCompute, name: str, path: str, flavor: str | None = "Google",
        **query: Any) -> tuple[int, str, dict[str, str]]:
    url = f"{fake.endpoint}/vm/{name}/computeMetadata/v1/{path}"
    if query:
        url += "?" + urllib.parse.urlencode({k: str(v) for k, v in query.items()})
    request = urllib.request.Request(url, headers={"Metadata-Flavor": flavor} if flavor else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


class Waiting:
    """A request made in a thread of its own; ``answer`` is set once it returns."""

    def __init__(self, fake: FakeCompute, name: str, path: str, **query: Any) -> None:
        self.answer: tuple[int, str, dict[str, str]] | None = None
        self.done = threading.Event()
        self.started = time.time()

        def run() -> None:
            self.answer = get(fake, name, path, **query)
            self.done.set()

        before = fake.waiting
        threading.Thread(target=run, daemon=True).start()
        deadline = time.monotonic() + 10
        while fake.waiting <= before and not self.done.is_set():  # until the server holds it
            assert time.monotonic() < deadline, "the request never reached the fake"
            time.sleep(0.01)


def test_every_answer_has_an_etag_that_changes_with_the_value(fake: FakeCompute) -> None:
    insert(fake, "vm-a", color="red")
    code, value, headers = get(fake, "vm-a", "instance/attributes/color")
    assert (code, value) == (200, "red") and headers["Metadata-Flavor"] == "Google"
    again = get(fake, "vm-a", "instance/attributes/color")[2]["ETag"]
    assert headers["ETag"] == again  # the same value, the same ETag
    set_metadata(fake, "vm-a", color="blue")
    code, value, changed = get(fake, "vm-a", "instance/attributes/color")
    assert value == "blue" and changed["ETag"] != headers["ETag"]


def test_a_request_without_the_metadata_flavor_header_is_refused(fake: FakeCompute) -> None:
    insert(fake, "vm-a", color="red")
    code, text, _ = get(fake, "vm-a", "instance/attributes/color", flavor=None)
    assert code == 403 and "Metadata-Flavor" in text
    assert get(fake, "vm-a", "instance/attributes/color", flavor="Other")[0] == 403


def test_directories_recursive_and_not(fake: FakeCompute) -> None:
    insert(fake, "vm-a", color="red", size="2")
    code, raw, headers = get(fake, "vm-a", "instance/attributes/", recursive="true")
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(raw) == {"color": "red", "size": "2"}
    assert get(fake, "vm-a", "instance/attributes/")[1] == "color\nsize\n"
    instance = json.loads(get(fake, "vm-a", "instance/", recursive="true")[1])
    assert instance["attributes"] == {"color": "red", "size": "2"}
    assert instance["preempted"] == "FALSE" and instance["name"] == "vm-a"
    assert "attributes/" in get(fake, "vm-a", "instance/")[1].split("\n")
    assert get(fake, "vm-a", "instance/preempted")[1] == "FALSE"
    assert get(fake, "vm-a", "instance/attributes/missing")[0] == 404


def test_wait_for_change_with_a_stale_etag_answers_at_once(fake: FakeCompute) -> None:
    insert(fake, "vm-a", color="red")
    old = get(fake, "vm-a", "instance/attributes/color")[2]["ETag"]
    set_metadata(fake, "vm-a", color="blue")
    # a change the client has not seen yet is never waited for: no change is ever missed
    code, value, headers = get(fake, "vm-a", "instance/attributes/color",
                               wait_for_change="true", last_etag=old, timeout_sec=20)
    assert (code, value) == (200, "blue") and headers["ETag"] != old
    [logged] = fake.metadata_requests("vm-a", since=time.time() - 0.5)[-1:]
    assert logged.query["last_etag"] == old and logged.code == 200


def test_wait_for_change_times_out_with_the_current_value(fake: FakeCompute) -> None:
    insert(fake, "vm-a", color="red")
    etag = get(fake, "vm-a", "instance/attributes/color")[2]["ETag"]
    waiting = Waiting(fake, "vm-a", "instance/attributes/color", wait_for_change="true",
                      last_etag=etag, timeout_sec=2)
    assert not waiting.done.is_set()  # held: nothing changed
    assert waiting.done.wait(10)
    assert waiting.answer is not None
    code, value, headers = waiting.answer
    assert (code, value, headers["ETag"]) == (200, "red", etag)


def test_a_set_metadata_wakes_the_waiting_requests_at_once(fake: FakeCompute) -> None:
    insert(fake, "vm-a", color="red", assignment="none")
    etag = get(fake, "vm-a", "instance/", recursive="true")[2]["ETag"]
    with_etag = Waiting(fake, "vm-a", "instance/", recursive="true", wait_for_change="true",
                        last_etag=etag, timeout_sec=300)
    without_etag = Waiting(fake, "vm-a", "instance/attributes/color", wait_for_change="true")
    untouched = Waiting(fake, "vm-a", "instance/attributes/color", wait_for_change="true",
                        timeout_sec=300)
    assert not (with_etag.done.is_set() or without_etag.done.is_set())
    set_metadata(fake, "vm-a", color="red", assignment="job-1")
    # the directory changed (an attribute in it did): answered well before its 300 s
    assert with_etag.done.wait(10)
    assert with_etag.answer is not None
    assert json.loads(with_etag.answer[1])["attributes"]["assignment"] == "job-1"
    assert with_etag.answer[2]["ETag"] != etag
    # "color" kept its value: its waiters go on waiting, until it changes
    assert not without_etag.done.wait(1.5) and not untouched.done.is_set()
    set_metadata(fake, "vm-a", color="green", assignment="job-1")
    assert without_etag.done.wait(10) and untouched.done.wait(10)
    assert without_etag.answer is not None and without_etag.answer[1] == "green"


def test_a_preemption_wakes_a_request_waiting_on_preempted(fake: FakeCompute) -> None:
    insert(fake, "vm-a")
    etag = get(fake, "vm-a", "instance/preempted")[2]["ETag"]
    waiting = Waiting(fake, "vm-a", "instance/preempted", wait_for_change="true",
                      last_etag=etag, timeout_sec=300)
    assert not waiting.done.is_set()
    fake.preempt("vm-a", notice_seconds=5)
    assert waiting.done.wait(10)
    assert waiting.answer is not None and waiting.answer[:2] == (200, "TRUE")


def test_a_failing_metadata_server_answers_503_also_to_waiting_requests(
        fake: FakeCompute) -> None:
    insert(fake, "vm-a", color="red")
    etag = get(fake, "vm-a", "instance/attributes/color")[2]["ETag"]
    waiting = Waiting(fake, "vm-a", "instance/attributes/color", wait_for_change="true",
                      last_etag=etag, timeout_sec=300)
    fake.fail_metadata("vm-a", times=2)
    assert waiting.done.wait(10)
    assert waiting.answer is not None and waiting.answer[0] == 503
    assert get(fake, "vm-a", "instance/attributes/color")[0] == 503
    assert get(fake, "vm-a", "instance/attributes/color")[:2] == (200, "red")


def test_the_workers_metadata_reads_ride_out_a_brief_outage(
        fake: FakeCompute, monkeypatch: pytest.MonkeyPatch) -> None:
    """GCE host maintenance makes the metadata server answer 503 for under a second: the
    worker's reads retry (a few times, with pauses), then give up with the error."""
    from goldfish_gce import worker

    insert(fake, "vm-a", color="red")
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{fake.port}/vm/vm-a")
    cloud = worker.Cloud()
    fake.fail_metadata("vm-a", times=2)
    assert cloud.attribute("color") == "red"
    codes = [r.code for r in fake.metadata_requests("vm-a") if r.path.endswith("/color")]
    assert codes == [503, 503, 200]
    fake.fail_metadata("vm-a", times=100)
    with pytest.raises(urllib.error.HTTPError, match="503"):
        cloud.attribute("color")
    codes = [r.code for r in fake.metadata_requests("vm-a") if r.path.endswith("/color")]
    assert codes[3:] == [503] * 4  # four attempts, then the error: bounded, not a loop


def test_the_workers_watch_outlives_an_answer_cut_off_midway(
        fake: FakeCompute, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hanging request the server drops mid-body (IncompleteRead, not an OSError) is one
    more failure to back off from: the watch thread goes on and sees the next change."""
    import http.client

    from goldfish_gce import worker

    insert(fake, "vm-a", color="red")
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{fake.port}/vm/vm-a")
    cloud = worker.Cloud()
    real, cut = cloud.meta_change, []

    def meta_change(path: str, etag: str | None) -> tuple[str, str]:
        if not cut:
            cut.append(path)
            raise http.client.IncompleteRead(b"{")
        return real(path, etag)

    monkeypatch.setattr(cloud, "meta_change", meta_change)
    watch = cloud.start_watch()
    seen = watch.wait(0, 10)
    assert cut and seen >= 1 and watch.attribute("color") == "red"
    set_metadata(fake, "vm-a", color="blue")
    watch.wait(seen, 10)
    assert watch.attribute("color") == "blue"


def test_the_boot_script_fetches_the_worker_through_a_brief_outage(
        fake: FakeCompute, tmp_path: Any) -> None:
    """The VM's startup script retries its one metadata read (the worker's source) as the
    worker retries its own, then runs the worker."""
    import os
    import subprocess
    import sys

    from goldfish_gce.boot import BOOT_SCRIPT

    marker = tmp_path / "ran"
    insert(fake, "vm-a", **{"goldfish-worker": f"open({str(marker)!r}, 'w').write('yes')\n"})
    fake.fail_metadata("vm-a", times=2)
    env = {**os.environ, "GCE_METADATA_HOST": f"127.0.0.1:{fake.port}/vm/vm-a",
           "TMPDIR": str(tmp_path), "GOLDFISH_PYTHON": sys.executable}
    proc = subprocess.run(["bash", "-c", BOOT_SCRIPT], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 0, (tmp_path / "goldfish-boot.log").read_text()
    assert marker.read_text() == "yes"
    codes = [r.code for r in fake.metadata_requests("vm-a") if r.path.endswith("goldfish-worker")]
    assert codes == [503, 503, 200]
