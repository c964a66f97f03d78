#!/usr/bin/env bash
# Audits Cargo.lock against the RustSec advisory snapshot in ../shared/advisory-db (there
# is no network for cargo-audit to fetch one): beside this checkout, or beside the local
# repository it was cloned from; TARS_ADVISORY_DB names another. The snapshot may be
# read-only, so the audit reads a copy. Fails on any vulnerability, unsound or yanked
# crate; unmaintained and other warnings are printed (docs/reliability.md lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

candidates=("${TARS_ADVISORY_DB:-}" "../shared/advisory-db")
origin="$(git remote get-url origin 2>/dev/null || true)"
if [ -n "$origin" ] && [ -d "$origin" ]; then
  candidates+=("$origin/../shared/advisory-db")
fi
snapshot=""
for candidate in "${candidates[@]}"; do
  if [ -n "$candidate" ] && [ -d "$candidate/crates" ]; then
    snapshot="$candidate"
    break
  fi
done
if [ -z "$snapshot" ]; then
  echo "error: no RustSec advisory snapshot in ../shared/advisory-db (beside this checkout or the repository it was cloned from); set TARS_ADVISORY_DB to one" >&2
  exit 2
fi
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp -r "$snapshot/." "$copy/"
chmod -R u+w "$copy"
cargo audit --db "$copy" --no-fetch --deny unsound --deny yanked
# The rmqtt cluster node of the tests has a lock file of its own (its own workspace):
# test tooling, not shipped, audited all the same.
cargo audit --db "$copy" --no-fetch --deny unsound --deny yanked --file tests/rmqtt-node/Cargo.lock
# The ported-TTS example is a workspace of its own too (as a user's would be).
cargo audit --db "$copy" --no-fetch --deny unsound --deny yanked --file examples/ported-tts/Cargo.lock
