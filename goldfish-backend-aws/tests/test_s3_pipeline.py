"""A pipeline with local compute and s3:// storage, end to end through the real console script
against moto's server: outputs land in S3, a second run reuses every stage and reads the outputs
back from S3, and the secret key of the environment is written nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from aws_support import aws_project, goldfish
from goldfish.testing.projects import CHAIN
from goldfish_aws.testing import MotoS3

#: CHAIN, with a first stage that prints its whole environment into its log.
FILES = {**CHAIN, "modules/prepare.py": """
    import os
    from goldfish import io
    print("environment:", sorted(os.environ.items()))
    n = io.config()["n"]
    io.save_output("data", {"xs": list(range(n))})
"""}


def test_outputs_live_in_s3_and_a_second_run_reuses_them(moto_s3: MotoS3,
                                                         tmp_path: Path) -> None:
    prefix = f"runs-{uuid.uuid4().hex[:8]}"
    secret = f"gf-secret-{uuid.uuid4().hex}"  # moto takes any key; none may be written
    root = aws_project(tmp_path, FILES, storage={"uri": f"s3://goldfish-test/{prefix}",
                                                 **moto_s3.settings(multipart_threshold_mb=5)})
    env = {"AWS_SECRET_ACCESS_KEY": secret, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = goldfish(root, "run", "w1", "--wait", "--reason", "outputs in S3", env=env)
    assert first.code == 0, first.out + first.err
    shown = goldfish(root, "show", "latest", "--json", env=env)
    run = json.loads(shown.out)
    assert run["state"] == "done", run
    outputs = {(s["stage"], name): ref for s in run["stages"]
               for name, ref in (s.get("outputs") or {}).items()}
    assert {k for k in outputs} == {("prepare", "data"), ("train", "model"),
                                    ("evaluate", "scores")}
    assert all(ref["uri"].startswith(f"s3://goldfish-test/{prefix}/objects/sha256/")
               for ref in outputs.values())
    client = moto_s3.client()
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="goldfish-test", Prefix=prefix)
            .get("Contents", [])}
    assert {ref["uri"].split("/", 3)[3] for ref in outputs.values()} <= keys
    assert not (root / ".goldfish" / "store" / "objects").exists()  # nothing stored locally

    second = goldfish(root, "run", "w1", "--wait", "--reason", "all reused", env=env)
    assert second.code == 0, second.out + second.err
    again = json.loads(goldfish(root, "show", "latest", "--json", env=env).out)
    assert again["id"] != run["id"] and again["state"] == "done"
    assert {s["stage"]: s["state"] for s in again["stages"]} == {
        "prepare": "reused", "train": "reused", "evaluate": "reused"}
    reused = {(s["stage"], name): ref for s in again["stages"]
              for name, ref in (s.get("outputs") or {}).items()}
    assert {k: v["uri"] for k, v in reused.items()} == {k: v["uri"] for k, v in outputs.items()}

    # read back from S3 through the project's store (a fresh process: nothing cached)
    probe = ("import json, sys\n"
             "from goldfish.artifacts import ArtifactStore\n"
             "from goldfish.project import Project\n"
             "store = ArtifactStore.for_project(Project.find(explicit=sys.argv[1]))\n"
             "print(type(store.storage).__name__)\n"
             "for digest in sys.argv[2:]:\n"
             "    with store.open(digest) as fh:\n"
             "        print(json.dumps(json.loads(fh.read())))\n")
    digests = [reused[k]["digest"] for k in sorted(reused)]
    read = subprocess.run([sys.executable, "-c", probe, str(root), *digests],
                          env={**os.environ, **env, "GOLDFISH_LOAD_PLUGINS": "aws"},
                          capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr
    lines = read.stdout.splitlines()
    assert lines[0] == "S3Storage"
    values = dict(zip(sorted(reused), (json.loads(line) for line in lines[1:]), strict=True))
    assert values[("prepare", "data")] == {"xs": [0, 1, 2, 3, 4]}
    assert values[("train", "model")] == {"w": 1.0}

    # the secret key was in the environment of every command above, and is written nowhere
    log = goldfish(root, "logs", f"{run['id']}/prepare", env=env)
    assert "environment:" in log.out and "AWS_" not in log.out  # stages never see it
    # the project (database, run records, logs, STATE.md) and Goldfish's caches
    scanned = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "goldfish.db" for p in scanned) and any(p.name == "STATE.md"
                                                                 for p in scanned)
    assert [p for p in scanned if secret.encode() in p.read_bytes()] == []
    for item in client.list_objects_v2(Bucket="goldfish-test", Prefix=prefix)["Contents"]:
        body = client.get_object(Bucket="goldfish-test", Key=item["Key"])["Body"].read()
        assert secret.encode() not in body, item["Key"]
    for result in (first, shown, second, log):
        assert secret not in result.out + result.err
