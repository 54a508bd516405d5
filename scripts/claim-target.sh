#!/usr/bin/env bash
# Makes the shared build cache safe to use from this checkout.
#
# Every checkout shares CARGO_TARGET_DIR (by default
# ~/.cache/tinykv-rs/target) so RocksDB is compiled once per machine. But
# cargo names a workspace crate's build by its path inside the workspace,
# the same in every checkout: two checkouts overwrite each other's builds
# of our crates, and cargo takes a build as up to date when the sources are
# older than it, even if it was made from another checkout's sources (a
# student's stubbed tree, or another student's). So when the cache was last
# used by another checkout, touch this checkout's sources: cargo then
# rebuilds our crates (the dependencies stay shared), and records this
# checkout as the cache's user.
set -euo pipefail

cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$HOME/.cache/tinykv-rs/target}
here=$(pwd -P)
owner_file="$target/.tinykv-checkout"
if [ "$(cat "$owner_file" 2>/dev/null || true)" = "$here" ]; then
    exit 0
fi
if [ -d "$target" ]; then
    echo "claim-target: the build cache was last used by another checkout; rebuilding this one's crates"
    find . \( -path ./target -o -path ./.git \) -prune -o \
        \( -name '*.rs' -o -name '*.proto' -o -name Cargo.toml \) -type f -print0 |
        xargs -0 touch
fi
mkdir -p "$target"
echo "$here" >"$owner_file"
