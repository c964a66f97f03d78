#!/usr/bin/env bash
# Profiles both consumers of `tars-bench processes` during an inbound QoS 0 burst from
# each publisher (this process, a rumqttc process, paho-mqtt in Python): perf record -g
# and perf stat of each consumer process, then one flame graph each (inferno).
# Usage: scripts/profile-bursts.sh [OUT_DIR]  (default target/profiles)
# Needs perf (apt-get install linux-perf) and python3 with paho-mqtt; installs inferno.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/profiles}

if ! command -v perf >/dev/null 2>&1; then
  echo "perf is missing: apt-get install linux-perf" >&2
  exit 1
fi
if ! command -v inferno-flamegraph >/dev/null 2>&1; then
  cargo install --locked --quiet inferno
fi
cargo build --release -p tars-bench --bins --examples
for row in "inbound qos 0" "inbound qos 0 rumqttc" "inbound qos 0 paho"; do
  ./target/release/examples/tars-bench processes --only "$row" --publisher all --runs 1 \
    --perf "$out"
done
for data in "$out"/*.data; do
  name=${data%.data}
  perf script -i "$data" 2>/dev/null | inferno-collapse-perf >"$name.folded"
  inferno-flamegraph --title "$(basename "$name")" <"$name.folded" >"$name.svg"
  echo "$name.svg"
done
