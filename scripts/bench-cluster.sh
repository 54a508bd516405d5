#!/usr/bin/env bash
# make bench-cluster: raw-put throughput and latency of a 3-store tinykv
# cluster of processes, a 3-member etcd and the in-process cluster, side by
# side (benches/cluster/src/main.rs says what is measured and how).
#
# Installs Debian's etcd-server when `etcd` is missing (apt-get, as root or
# through sudo); if that fails the bench runs without etcd and says so.
# Builds the `tinykv` binary and the bench in the shared profile, then runs
# the bench; arguments go to it (--clients 1,16,64 --value-size 128
# --duration-secs 5 --warmup-secs 1 --systems tinykv,etcd,in-process).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"

install_etcd() {
    command -v etcd >/dev/null 2>&1 && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || return 1
        sudo="sudo -n"
    fi
    echo "bench-cluster: etcd not found; installing Debian's etcd-server"
    export DEBIAN_FRONTEND=noninteractive
    # The package list may be stale or empty on a fresh machine.
    $sudo apt-get install -y -qq etcd-server >/dev/null 2>&1 \
        || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq etcd-server >/dev/null 2>&1; } \
        || return 1
    command -v etcd >/dev/null 2>&1
}

ETCD_ARGS=()
if ! install_etcd; then
    echo "bench-cluster: could not install etcd-server (no root, no network or no package); measuring without etcd"
    ETCD_ARGS=(--systems tinykv,in-process)
fi

"$CARGO" build -q -p tinykv-tests --bin tinykv -p cluster-bench --bin cluster-bench
# The cluster's and etcd's own logs go to files; the bench prints its lines.
RUST_LOG="${RUST_LOG:-warn}" exec "$CARGO_TARGET_DIR/debug/cluster-bench" "${ETCD_ARGS[@]}" "$@"
