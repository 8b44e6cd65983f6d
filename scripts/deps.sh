#!/bin/sh
# Install every Debian package that building, the demo, the tests and the
# benchmarks need.  Idempotent: does nothing when all are present.
#   scripts/deps.sh            install what is missing (needs root)
#   scripts/deps.sh --check    only report what is missing (exit 1 if any)
set -eu
PKGS="build-essential pkg-config clang libclang-rt-14-dev
 libfuse3-dev fuse3 libarchive-dev libssl-dev libcurl4-openssl-dev libjansson-dev
 libzstd-dev libisal-dev zlib1g-dev zstd
 docker-registry skopeo umoci podman buildah fuse-overlayfs busybox-static
 python3 python3-pytest attr curl jq openssl util-linux iproute2 sqlite3 git
 hyperfine valgrind scdoc man-db uidmap mmdebstrap procps e2fsprogs"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "${1:-}" = --check ]; then echo "missing:$missing" >&2; exit 1; fi
if [ "$(id -u)" != 0 ]; then echo "scripts/deps.sh: need root to install:$missing" >&2; exit 1; fi
echo "scripts/deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
