#!/usr/bin/env bash
# The benchmark's CI check: builds tars-bench (release), runs its short smoke version
# against both brokers, and checks the instructions and allocations per message against
# bench/budgets.json (callgrind). Needs mosquitto and valgrind (scripts/test.sh installs
# both). The full benchmark is `cargo run --release -p tars-bench --example tars-bench`
# (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p tars-bench --bins --examples
./target/release/examples/tars-bench --smoke --no-cost
./target/release/examples/tars-bench budgets
