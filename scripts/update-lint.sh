#!/usr/bin/env bash
# What a user's fresh build sees: a service that depends on tars-mqtt resolves the newest
# compatible crates, not this workspace's lock file. In a scratch copy of the tracked
# files, runs `cargo update` and then clippy over the workspace with warnings denied (a
# deprecation in a newer dependency fails it), and checks that the `tls-aws-lc` provider
# still builds. Needs crates.io; the scratch target directory is kept in
# target/update-lint between runs. Run by scripts/test.sh beside the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
git ls-files -z | xargs -0 -I{} cp --parents {} "$scratch/" 2>/dev/null || true
export CARGO_TARGET_DIR="$PWD/target/update-lint"
cd "$scratch"
if ! updated="$(cargo update 2>&1)"; then
  echo "$updated" >&2
  echo "error: cargo update could not reach crates.io; the update lint needs the registry" >&2
  exit 1
fi
echo "update lint: $(grep -c 'Updating\|Adding' <<<"$updated" || true) dependencies moved to their newest compatible versions"
cargo clippy --quiet --workspace --all-targets -- -D warnings
cargo clippy --quiet -p tars-mqtt --features tls-aws-lc -- -D warnings
echo "update lint: clean with the newest compatible dependencies"
