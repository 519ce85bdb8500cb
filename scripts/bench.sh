#!/usr/bin/env bash
# `npm run bench`: every benchmark under bench/*/run.ts, one after another, each against its peers.
# Extra arguments select benchmarks by folder name, e.g. `npm run bench -- registry`.
# Sizes and durations come from BENCH_* variables (see each run.ts); a quick run:
#   BENCH_IMAGE_MIB=64 BENCH_REPEATS=1 BENCH_SECONDS=3 npm run bench
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
bash scripts/install-system-deps.sh

# (ApacheBench, from apache2-utils, measures the manifest HEADs: wrk 4.1 waits for the body a HEAD announces.)

if [ $# -gt 0 ]; then
  benches=()
  for name in "$@"; do benches+=("bench/$name/run.ts"); done
else
  mapfile -t benches < <(find bench -mindepth 2 -maxdepth 2 -name run.ts | sort)
fi
for bench in "${benches[@]}"; do
  echo "== ${bench%/run.ts}"
  node --import tsx "$bench"
done
