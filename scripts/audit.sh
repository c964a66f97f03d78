#!/usr/bin/env bash
# Audits Cargo.lock against the RustSec advisory snapshot in ../shared/advisory-db (there
# is no network for cargo-audit to fetch one). The snapshot may be read-only, so the
# audit reads a copy. Fails on any vulnerability; unmaintained and other warnings are
# printed (docs/reliability.md lists them with what replaces them).
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot="${TARS_ADVISORY_DB:-../shared/advisory-db}"
if [ ! -d "$snapshot/crates" ]; then
  echo "error: no RustSec advisory snapshot at $snapshot (set TARS_ADVISORY_DB to one)" >&2
  exit 2
fi
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp -r "$snapshot/." "$copy/"
chmod -R u+w "$copy"
cargo audit --db "$copy" --no-fetch --deny unsound --deny yanked
