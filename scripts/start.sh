#!/usr/bin/env bash
# `npm start`: install what is missing, then run the all-in-one server with embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
exec node bin/berth.js up "$@"
