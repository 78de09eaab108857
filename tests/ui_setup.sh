#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver for goldfish-ui's browser tests (selenium drives
# the system chromedriver; nothing is downloaded by selenium itself).
# Idempotent: returns at once when both are installed. Called by .ci/run before pytest.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ui_setup: chromium and chromium-driver are missing; install them as root:" \
         "apt-get install chromium chromium-driver" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock (a parallel setup script): wait for it instead of failing.
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >/dev/null
command -v chromedriver >/dev/null 2>&1 || { echo "ui_setup: chromedriver not on PATH after install" >&2; exit 1; }
