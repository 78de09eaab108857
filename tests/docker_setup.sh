#!/usr/bin/env bash
# Bring up a real Docker engine and the small local base image the goldfish-backend-docker tests use.
# Images cannot be pulled on CI machines, so the base image (Debian bookworm minbase with python3 and
# numpy) is built locally with debootstrap and `docker import`; the root filesystem tarball is cached
# under $GOLDFISH_CI_CACHE so a later run on the same machine only re-imports it.
# Idempotent: installs packages only when missing, starts dockerd only when it is not answering,
# builds the image only when it is missing. Called by .ci/run before pytest.
set -euo pipefail

IMAGE="${GOLDFISH_DOCKER_TEST_IMAGE:-goldfish-ci/python-numpy:bookworm}"
CACHE="${GOLDFISH_CI_CACHE:-/var/cache/goldfish-ci}"
ROOTFS_TAR="$CACHE/bookworm-python3-numpy.tar"
LOG="$CACHE/dockerd.log"

need_install=()
command -v dockerd >/dev/null 2>&1 || need_install+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_install+=(debootstrap)
if [ "${#need_install[@]}" -gt 0 ]; then
    echo "docker_setup: installing ${need_install[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_install[@]}" >&2
fi
mkdir -p "$CACHE"

if ! docker info >/dev/null 2>&1; then
    echo "docker_setup: starting dockerd (log: $LOG)" >&2
    # A dockerd that was killed leaves its pid file; if that pid is gone (or an unreaped
    # zombie) the file is stale and would stop the new dockerd from starting.
    if [ -f /var/run/docker.pid ]; then
        old="$(cat /var/run/docker.pid 2>/dev/null || true)"
        if [ -z "$old" ] || [ ! -e "/proc/$old" ] || \
                [ "$(awk '{print $3}' "/proc/$old/stat" 2>/dev/null)" = "Z" ]; then
            rm -f /var/run/docker.pid
        fi
    fi
    # No iptables/bridge: the CI container cannot change the host's network; stages run with
    # --network none (the default of docker profiles) or host. --live-restore: containers keep
    # running while the engine restarts (a run in progress resumes when it is back).
    setsid dockerd --iptables=false --ip6tables=false --ip-forward=false --bridge=none --live-restore \
        >>"$LOG" 2>&1 < /dev/null &
    for _ in $(seq 1 100); do
        docker info >/dev/null 2>&1 && break
        sleep 0.1
    done
    docker info >/dev/null 2>&1 || { echo "docker_setup: dockerd did not start; see $LOG" >&2; exit 1; }
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    if [ ! -s "$ROOTFS_TAR" ]; then
        echo "docker_setup: building the base root filesystem with debootstrap (about a minute)" >&2
        work="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
        trap 'rm -rf "$work"' EXIT
        debootstrap --variant=minbase --include=python3,python3-numpy bookworm "$work/root" >&2
        rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
        tar -C "$work/root" -cf "$ROOTFS_TAR.partial" .
        mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
    fi
    echo "docker_setup: importing $IMAGE" >&2
    docker import -c 'CMD ["python3"]' "$ROOTFS_TAR" "$IMAGE" >/dev/null
fi
echo "$IMAGE"
