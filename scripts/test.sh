#!/usr/bin/env bash
# The whole suite on a fresh machine: dependencies, real tools, PostgreSQL, type check, tests.
# Extra arguments select test files, e.g. `npm test -- test/registry/oci`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
bash scripts/install-system-deps.sh
if [ -z "${BERTH_TEST_POSTGRES_URL:-}" ]; then
  BERTH_TEST_POSTGRES_URL=$(bash scripts/start-postgres.sh | tail -1)
  export BERTH_TEST_POSTGRES_URL
fi

echo "type check…"
npx --no-install tsc --noEmit -p .

if [ $# -gt 0 ]; then
  mapfile -t files < <(find "$@" -name '*.test.ts' | sort)
else
  mapfile -t files < <(find test -name '*.test.ts' | sort)
fi
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec "${files[@]}"
