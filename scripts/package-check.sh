#!/usr/bin/env bash
# The crates as crates.io would get them: `cargo package --workspace` packs every crate
# and builds each from its packed sources alone (no path into another crate, every
# dependency versioned). Then the minimum supported Rust version (the workspace's
# `rust-version`): checked with that toolchain when it is installed and is not the one
# in use; otherwise the toolchain in use must be that version (CI's toolchain is the
# MSRV: see CONTRIBUTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo unpacks the workspace's own packed crates (from its overlay registry under
# target/package) into ~/.cargo/registry/src/-<hash>/ once, and reuses that copy on the
# next run even when the crate changed: drop those copies, so each run verifies what it
# packed now. They are only this workspace's crates; crates.io's sources are elsewhere.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/tars-*
cargo package --workspace --quiet
echo "cargo package --workspace: every crate packs and builds from its package"

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
active=$(rustc --version | cut -d' ' -f2)
case "$active" in
  "$msrv" | "$msrv".*)
    echo "rust-version $msrv: the suite runs on rustc $active" ;;
  *)
    if rustup toolchain list 2>/dev/null | grep -q "^$msrv"; then
      cargo "+$msrv" check --workspace --quiet
      echo "rust-version $msrv: cargo +$msrv check passes"
    else
      echo "error: rust-version is $msrv, but the suite runs on rustc $active and no $msrv toolchain is installed" >&2
      echo "  install it (rustup toolchain install $msrv) or set rust-version to what is tested" >&2
      exit 1
    fi ;;
esac
