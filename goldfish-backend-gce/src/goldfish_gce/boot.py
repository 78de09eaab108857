"""The VM's startup script: fetch the worker from the metadata and run it; a boot that breaks
before the worker can report is uploaded as ``boot.log`` next to the job spec."""

from __future__ import annotations

from pathlib import Path

BOOT_SCRIPT = r"""#!/bin/bash
# Goldfish boot script: runs the worker (goldfish-worker metadata) with the image's Python.
MD="http://${GCE_METADATA_HOST:-metadata.google.internal}/computeMetadata/v1"
LOG="${TMPDIR:-/tmp}/goldfish-boot.log"
PY="${GOLDFISH_PYTHON:-$(command -v python3 || command -v python)}"
WORKER="${TMPDIR:-/tmp}/goldfish_worker.py"
{
  echo "goldfish boot $(date -u +%FT%TZ) python=${PY:-none}"
  [ -n "$PY" ] || { echo "no python3 on this image: install Python 3.11+ or pick another image"; false; } &&
  "$PY" -c 'import sys, time, urllib.error, urllib.request
r = urllib.request.Request(sys.argv[1], headers={"Metadata-Flavor": "Google"})
for attempt in range(6):  # a 503 of host maintenance or a refused connection: retried
    try:
        body = urllib.request.urlopen(r, timeout=30).read()
        break
    except urllib.error.HTTPError as exc:
        if exc.code < 500 or attempt == 5:
            raise
    except OSError:
        if attempt == 5:
            raise
    time.sleep(0.5 * 2 ** attempt)
open(sys.argv[2], "wb").write(body)' \
    "$MD/instance/attributes/goldfish-worker" "$WORKER" &&
  "$PY" "$WORKER"
} >>"$LOG" 2>&1
status=$?
if [ "$status" -ne 0 ] && command -v curl >/dev/null; then
  # The worker never ran (or crashed outside its own handler): upload the boot log.
  H="Metadata-Flavor: Google"
  SPEC=$(curl -sf -H "$H" "$MD/instance/attributes/goldfish-spec-uri")
  EP=$(curl -sf -H "$H" "$MD/instance/attributes/goldfish-storage-endpoint" || echo https://storage.googleapis.com)
  TOKEN=$(curl -sf -H "$H" "$MD/instance/service-accounts/default/token" | sed -e 's/.*"access_token": *"\([^"]*\)".*/\1/')
  OBJ="${SPEC#gs://}"; BUCKET="${OBJ%%/*}"; KEY="${OBJ#*/}"; KEY="${KEY%/*}/boot.log"
  curl -sf -X POST -H "Authorization: Bearer $TOKEN" --data-binary @"$LOG" \
    "$EP/upload/storage/v1/b/$BUCKET/o?uploadType=media&name=$(printf %s "$KEY" | sed 's,/,%2F,g')" >/dev/null
fi
exit "$status"
"""


def worker_source() -> str:
    """The worker's source text, shipped to the VM in its metadata."""
    return (Path(__file__).parent / "worker.py").read_text(encoding="utf-8")
