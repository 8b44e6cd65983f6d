#!/usr/bin/env bash
# make bench: the union filesystem side by side with the kernel's overlayfs
# and fuse-overlayfs over the same layer directories, with the workloads of
# ../shared/bench (fs-walk cold/warm, fs-read cold/warm, fs-copyup, fs-create).
#
#   scripts/bench.sh [--quick] [--only GROUP,...] [--runs N]
#
# Layers: the bench corpus's debian:bookworm (3 layers) from the OCI layout in
# $STRATA_BENCH_CACHE/oci/debian (built by ../shared/bench/make-images.sh),
# extracted once into $STRATA_BENCH_CACHE/fs-bench/layers in overlayfs form.
# STRATA_MOUNT_OPTS adds -o options to the strata mount; STRATA_BENCH_KINDS
# picks the contenders and their order; the write rows run on a filesystem
# made for each run (FRESH_DISK below), so the order does not decide them.
# Prints a markdown table: median seconds, ratio to the kernel and to fuse-overlayfs, and the
# daemons' peak RSS.  Needs root (mount, drop_caches).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH=${STRATA_BENCH_DIR:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
CACHE=${STRATA_BENCH_CACHE:-/var/tmp/strata-bench}
STRATA=${STRATA:-$REPO/build/strata}
WS=$CACHE/fs-bench
RUNS=5
QUICK=0
ONLY=walk-cold,walk-warm,read-cold,read-warm,copyup,create
while (($#)); do
  case $1 in
    --quick) QUICK=1; RUNS=3 ;;
    --runs) RUNS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    *) echo "usage: $0 [--quick] [--only GROUPS] [--runs N]" >&2; exit 2 ;;
  esac
  shift
done
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (mounts, drop_caches)"
for c in hyperfine jq tar fuse-overlayfs mkfs.ext4; do command -v $c >/dev/null || die "missing $c (scripts/deps.sh)"; done
[[ -x $STRATA ]] || die "$STRATA missing: make first"

# ---------------------------------------------------------------- layers
OCI=$CACHE/oci/debian
if [[ ! -f $OCI/index.json ]]; then
  log "building the bench corpus (debian) with $BENCH/make-images.sh"
  "$BENCH/registry.sh" start >/dev/null
  IMAGES=debian "$BENCH/make-images.sh" >&2
fi
mkdir -p "$WS/layers"
manifest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="bookworm") | .digest' "$OCI/index.json")
mapfile -t digests < <(jq -r '.layers[].digest' "$OCI/blobs/sha256/${manifest#sha256:}")
LOWERS=""
for d in "${digests[@]}"; do
  out=$WS/layers/${d#sha256:}
  if [[ ! -f $out.ok ]]; then
    rm -rf "$out"; mkdir -p "$out"
    gzip -dc <"$OCI/blobs/sha256/${d#sha256:}" | tar --numeric-owner --same-owner --xattrs --xattrs-include='*' -xpf - -C "$out"
    # OCI whiteouts to the overlayfs form, which all three contenders read
    while IFS= read -r -d '' wh; do
      parent=${wh%/*}; base=${wh##*/}; rm -f "$wh"
      case $base in
        .wh..wh..opq) setfattr -n trusted.overlay.opaque -v y "$parent" ;;
        .wh..wh.*) ;;
        *) rm -rf "${parent:?}/${base#.wh.}"; mknod "$parent/${base#.wh.}" c 0 0 ;;
      esac
    done < <(find "$out" -name '.wh.*' -print0)
    touch "$out.ok"
  fi
  LOWERS="$out${LOWERS:+:$LOWERS}"   # top first
done
log "lowers: $LOWERS"

# 1,000 lower files evenly spaced over the sorted list, and the big file
LIST=$WS/copyup.list
if [[ ! -s $LIST ]]; then
  (IFS=:; for l in $LOWERS; do (cd "$l" && find . -type f -size +0 -printf '%P\n'); done) | sort -u >"$WS/all.list"
  total=$(wc -l <"$WS/all.list")
  awk -v n="$total" 'BEGIN { step = n / 1000 } { if (NR - 1 >= next_) { print; next_ += step } }' "$WS/all.list" | head -1000 >"$LIST"
fi
BIG=opt/bench/random-64M.bin

# ------------------------------------------------------------- contenders
# The write rows (copyup, create) give each run a writable layer on an ext4
# filesystem made for that run (a loop device; mkfs.ext4's defaults, so with
# a journal, as distributions make them).  On one shared filesystem the
# order decided those rows: ext4 without a journal (this machine's root)
# skips every inode deleted in the last minute when it allocates one, so
# whoever created files after another's rm -rf paid for it (the kernel's
# own overlayfs: 1.4 s first, 7.5 s last).  STRATA_BENCH_FRESH_DISK=0 keeps
# the writable layers on $WS.
FRESH_DISK=${STRATA_BENCH_FRESH_DISK:-1}
cat >"$WS/ctl.sh" <<CTL
#!/usr/bin/env bash
# ctl.sh mount|umount|remount|fresh|cold KIND  (called by hyperfine's --prepare)
set -euo pipefail
kind=\$2; d=$WS/\$kind
umnt() { if mountpoint -q \$d/mnt; then umount \$d/mnt 2>/dev/null || umount -l \$d/mnt; fi; for i in \$(seq 100); do pgrep -f "\$d/mnt\\\$" >/dev/null || break; sleep 0.02; done; }
mnt() {
  mkdir -p \$d/mnt \$d/disk/upper \$d/disk/work
  local u=\$d/disk/upper w=\$d/disk/work
  case \$kind in
    kernel) mount -t overlay overlay -o lowerdir=$LOWERS,upperdir=\$u,workdir=\$w \$d/mnt ;;
    fuse-overlayfs) fuse-overlayfs -o lowerdir=$LOWERS,upperdir=\$u,workdir=\$w \$d/mnt 2>/dev/null ;;
    strata) $STRATA mount -o lowerdir=$LOWERS,upperdir=\$u,workdir=\$w${STRATA_MOUNT_OPTS:+,$STRATA_MOUNT_OPTS} \$d/mnt ;;
    strata-handles) $STRATA mount -o lowerdir=$LOWERS,upperdir=\$u,workdir=\$w,no_open=0${STRATA_MOUNT_OPTS:+,$STRATA_MOUNT_OPTS} \$d/mnt ;;
    strata-kernel) $STRATA mount --driver kernel -o lowerdir=$LOWERS,upperdir=\$u,workdir=\$w \$d/mnt ;;
  esac
  for i in \$(seq 200); do mountpoint -q \$d/mnt && return 0; sleep 0.01; done; exit 1
}
# the writable layer's own filesystem, made anew for a run (FRESH_DISK)
disk_off() {
  if mountpoint -q \$d/disk; then
    for i in \$(seq 100); do umount \$d/disk 2>/dev/null && break; sleep 0.05; done
    if mountpoint -q \$d/disk; then umount -l \$d/disk; fi
  fi
  rm -f \$d/disk.img
}
fresh() {
  umnt; disk_off; rm -rf \$d/disk; mkdir -p \$d/disk
  if [[ $FRESH_DISK == 1 ]]; then
    truncate -s 8G \$d/disk.img
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 \$d/disk.img
    mount -o loop \$d/disk.img \$d/disk
  fi
  mnt
}
case \$1 in
  mount) mnt ;;
  umount) umnt; disk_off ;;
  remount) umnt; rm -rf \$d/disk/upper \$d/disk/work; mnt ;;
  fresh) fresh ;;
  cold) umnt; rm -rf \$d/disk/upper \$d/disk/work; mnt; sync; echo 3 >/proc/sys/vm/drop_caches ;;
esac
CTL
chmod +x "$WS/ctl.sh"
CTL=$WS/ctl.sh
# STRATA_BENCH_KINDS: the contenders and their order (e.g. to see what running later costs)
# (strata-handles: -o no_open=0, OPEN/RELEASE per file; strata-kernel: --driver kernel)
read -ra KINDS <<<"${STRATA_BENCH_KINDS:-kernel fuse-overlayfs strata strata-kernel}"
cleanup() { for k in "${KINDS[@]}"; do "$CTL" umount "$k" 2>/dev/null || true; done; }
trap cleanup EXIT

daemon_hwm() { # KIND -> peak RSS in MiB of the daemon serving it
  local p
  p=$(pgrep -f -- "$WS/$1/mnt\$" | head -1) || { echo "-"; return; }
  awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$p/status"
}

RESULTS=$WS/results.tsv
: >"$RESULTS"
bench() { # GROUP KIND PREPARE COMMAND [hyperfine args]
  local group=$1 kind=$2 prep=$3 cmd=$4; shift 4
  local json=$WS/$group-$kind.json
  hyperfine -N --style none --export-json "$json" ${prep:+--prepare "$prep"} "$@" "$cmd" >/dev/null 2>&1 ||
    hyperfine --style none --export-json "$json" ${prep:+--prepare "$prep"} "$@" "$cmd" >/dev/null
  local med
  med=$(jq -r '.results[0].median' "$json")
  printf '%s\t%s\t%s\t%s\n' "$group" "$kind" "$med" "${HWM:-}" >>"$RESULTS"
  log "$group $kind: median ${med}s"
}
want() { [[ ,$ONLY, == *,$1,* ]]; }

for k in "${KINDS[@]}"; do
  M=$WS/$k/mnt
  HWM=
  if want walk-cold; then
    bench walk-cold "$k" "$CTL cold $k" "bash -c 'find $M -printf \"%s %i %m\\n\" >/dev/null'" --runs "$RUNS"
  fi
  if want walk-warm; then
    "$CTL" remount "$k"
    bench walk-warm "$k" "" "bash -c 'find $M -printf \"%s %i %m\\n\" >/dev/null'" --warmup 1 --runs $((RUNS * 2))
  fi
  if want read-cold; then
    bench read-cold "$k" "$CTL cold $k" "bash -c 'tar -C $M -cf - . | wc -c >/dev/null'" --runs "$RUNS"
  fi
  if want read-warm; then
    "$CTL" remount "$k"
    HWM=
    hyperfine -N --style none --warmup 1 --runs "$RUNS" --export-json "$WS/read-warm-$k.json" \
      "bash -c 'tar -C $M -cf - . | wc -c >/dev/null'" >/dev/null 2>&1
    HWM=$( [[ $k == kernel || $k == strata-kernel ]] && echo "-" || daemon_hwm "$k")
    med=$(jq -r '.results[0].median' "$WS/read-warm-$k.json")
    printf '%s\t%s\t%s\t%s\n' read-warm "$k" "$med" "$HWM" >>"$RESULTS"
    log "read-warm $k: median ${med}s, daemon peak RSS ${HWM} MiB"
  fi
  HWM=
  if want copyup; then
    bench copyup "$k" "$CTL fresh $k" "bash -c 'cd $M && while IFS= read -r f; do printf x >>\"\$f\"; done <$LIST; printf x >>$BIG'" --runs "$RUNS"
  fi
  if want create; then
    bench create "$k" "$CTL fresh $k" "bash -c 'mkdir $M/bench-create && tar -C $M/bench-create -xf $CACHE/src/create-20k.tar && rm -rf $M/bench-create'" --runs $((QUICK ? 2 : 3))
  fi
  "$CTL" umount "$k"
done

# ------------------------------------------------------------------ table
echo
echo "| workload | kernel s | fuse-overlayfs s | strata s | strata / kernel | strata / fuse-overlayfs | strata --driver kernel s | its / kernel | strata -o no_open=0 s | its / kernel | peak RSS fuse-overlayfs / strata MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for g in walk-cold walk-warm read-cold read-warm copyup create; do
  want $g || continue
  awk -F'\t' -v g=$g 'function s(x) { return x == "" ? "-" : sprintf("%.3f", x) }
    function q(x, y) { return x == "" || y == "" ? "-" : sprintf("%.2fx", x / y) }
    $1 == g { t[$2] = $3; r[$2] = $4 }
    END { k = t["kernel"]; f = t["fuse-overlayfs"]; st = t["strata"]; sk = t["strata-kernel"]; sh = t["strata-handles"]
          printf "| fs-%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", g, s(k), s(f), s(st), q(st, k), q(st, f),
                 s(sk), q(sk, k), s(sh), q(sh, k), (r["strata"] != "" ? r["fuse-overlayfs"] " / " r["strata"] : "") }' "$RESULTS"
done
echo
echo "(debian:bookworm, 3 layers; $RUNS runs each; load $(cut -d' ' -f1 /proc/loadavg); order ${KINDS[*]}; results in $WS)"
