#!/usr/bin/env bash
# Prints the sandbox latency comparison the README quotes: agentteam's warm
# and first blocks against docker exec and docker run --rm with the same
# hardening, measured in the same run. Usage: scripts/bench.sh (or make bench)
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(mktemp)
trap 'rm -f "$report"' EXIT
echo "bench: measuring (a few minutes)..." >&2
AGENTTEAM_BENCH_REPORT="$report" go test -count=1 -run '^$' -bench '^BenchmarkCompare$' -benchtime 1x ./sandbox/docker/ >/dev/null
AGENTTEAM_BENCH_REPORT="$report" go test -count=1 -run '^$' -bench '^BenchmarkBatchThroughput$' -benchtime 1x -timeout 20m ./cmd/agentteam/ >/dev/null
cat "$report"
# The same comparison under gVisor, in a second engine (make runsc first;
# skipped where it cannot run).
if [ -x docker/build/runsc ]; then
  gv=$(mktemp)
  if GVISOR_BENCH_REPORT="$gv" scripts/test-gvisor.sh >/dev/null 2>&1 && [ -s "$gv" ]; then
    echo
    cat "$gv"
  else
    echo "bench: the runsc comparison did not run (scripts/test-gvisor.sh)" >&2
  fi
  rm -f "$gv"
fi
echo
go test -count=1 -run '^$' -bench 'Block$' -benchtime 20x ./sandbox/docker/ | grep -E '^Benchmark'
